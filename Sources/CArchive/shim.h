// libarchive, for reading .tar.gz release artifacts with its secure-extraction checks.
#pragma once
#include <archive.h>
#include <archive_entry.h>
