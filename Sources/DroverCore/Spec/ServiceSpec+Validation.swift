extension ServiceSpec {
    /// Environment variables Drover sets itself; a spec may not override them.
    public static let reservedEnvironment: Set<String> = ["PORT", "DROVER_SERVICE", "DROVER_VERSION", "DROVER_INSTANCE"]

    /// How much a spec may hold: enough for any real service, small enough that every path
    /// fits the filesystem's limits and every line of the unit file stays far below systemd's.
    public static let maxTextBytes = 16 * 1024
    public static let maxArguments = 256
    public static let maxEnvironment = 256
    public static let maxSecrets = 64
    public static let maxBinaryBytes = 1024
    public static let maxPathComponentBytes = 255
    /// Signals a service may ask to be stopped with: the ones servers drain on. Not SIGKILL
    /// (nothing could drain) nor SIGSTOP (nothing would stop).
    public static let stopSignals: Set<String> = ["SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH"]

    /// Checks every field that will reach a unit file. Values are still escaped when
    /// rendered; validation refuses what no escaping can make safe (newlines, control
    /// characters, noncharacters, paths leaving the release) and what makes no sense (a 0 s
    /// timeout). Text is checked as Unicode scalars, the way systemd reads it.
    public func validate() throws(SpecError) {
        try Self.checkRelativePath(binary, field: "binary")
        guard arguments.count <= Self.maxArguments else {
            throw SpecError(field: "arguments", problem: "has \(arguments.count) arguments; at most \(Self.maxArguments)")
        }
        for (index, argument) in arguments.enumerated() {
            try Self.checkText(argument, field: "arguments[\(index)]")
        }
        guard environment.count <= Self.maxEnvironment else {
            throw SpecError(field: "environment", problem: "has \(environment.count) variables; at most \(Self.maxEnvironment)")
        }
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) {
            guard Self.isEnvironmentName(key) else {
                throw SpecError(field: "environment.\(key)", problem: "a variable name is letters, digits and '_', not starting with a digit, at most 255 characters")
            }
            guard !Self.reservedEnvironment.contains(key) else {
                throw SpecError(field: "environment.\(key)", problem: "is set by Drover for every instance and cannot be overridden")
            }
            try Self.checkText(value, field: "environment.\(key)")
        }
        guard secrets.count <= Self.maxSecrets else {
            throw SpecError(field: "secrets", problem: "has \(secrets.count) secrets; at most \(Self.maxSecrets)")
        }
        for (name, digest) in secrets.sorted(by: { $0.key < $1.key }) {
            guard Self.isSecretName(name) else {
                throw SpecError(field: "secrets", problem: "a secret's name is letters, digits and '_', not starting with a digit, at most 64 characters")
            }
            guard digest.utf8.count == 32, digest.utf8.allSatisfy({ NamePattern.isDigit($0) || (0x61...0x66).contains($0) }) else {
                throw SpecError(field: "secrets.\(name)", problem: "must be the secret's digest: 32 lowercase hex digits (the CLI computes it; the value itself never goes in a spec)")
            }
        }
        if let acceptExposure, !(acceptExposure.isFinite && (0...10).contains(acceptExposure)) {
            throw SpecError(field: "acceptExposure", problem: "must be an exposure from 0 to 10, as systemd-analyze security scores a unit")
        }
        try release?.validate()
        try Self.checkRange(startTimeoutSeconds, 1...3_600, field: "startTimeoutSeconds")
        try Self.checkRange(stopTimeoutSeconds, 1...3_600, field: "stopTimeoutSeconds")
        if let stopSignal, !Self.stopSignals.contains(stopSignal) {
            throw SpecError(field: "stopSignal", problem: "must be one of \(Self.stopSignals.sorted().joined(separator: ", ")), not \"\(stopSignal.prefix(32))\" (the signal the service drains on; SIGKILL follows after stopTimeoutSeconds)")
        }
        if let watchdogSeconds {
            try Self.checkRange(watchdogSeconds, 1...3_600, field: "watchdogSeconds")
            guard type == .notify else {
                throw SpecError(field: "watchdogSeconds", problem: "needs type \"notify\": only a notify service sends WATCHDOG=1")
            }
        }
        guard ["no", "on-failure", "always"].contains(restart.mode) else {
            throw SpecError(field: "restart.mode", problem: "must be \"no\", \"on-failure\" or \"always\", not \"\(restart.mode)\"")
        }
        if let health {
            guard health.path.utf8.first == UInt8(ascii: "/"), health.path.utf8.count <= 2048,
                  health.path.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                throw SpecError(field: "health.path", problem: "must be a URL path starting with '/', like /healthz, of printable ASCII without spaces (percent-encode the rest)")
            }
            guard health.timeoutSeconds > 0, health.timeoutSeconds <= 60 else {
                throw SpecError(field: "health.timeoutSeconds", problem: "must be more than 0 and at most 60")
            }
            guard HealthCheck.intervalRange.contains(health.intervalSeconds) else {
                throw SpecError(field: "health.intervalSeconds", problem: "must be between \(HealthCheck.intervalRange.lowerBound) and \(HealthCheck.intervalRange.upperBound)")
            }
        }
        if let listen, let problem = ListenAddress.problem(in: listen) {
            throw SpecError(field: "listen", problem: "must be PORT, A.B.C.D:PORT or [IPv6]:PORT, like 0.0.0.0:8080 or [::]:8080: \"\(listen)\" \(problem)")
        }
        try Self.checkRange(restart.delaySeconds, 0...3_600, field: "restart.delaySeconds")
        try Self.checkRange(restart.burst, 1...1_000, field: "restart.burst")
        try Self.checkRange(restart.intervalSeconds, 1...86_400, field: "restart.intervalSeconds")
        try Self.checkCPUPercent(resources.cpuPercent, field: "resources.cpuPercent")
        try Self.checkMemoryBytes(resources.memoryBytes, field: "resources.memoryBytes")
        try Self.checkCPUPercent(resources.serviceCPUPercent, field: "resources.serviceCPUPercent")
        try Self.checkMemoryBytes(resources.serviceMemoryBytes, field: "resources.serviceMemoryBytes")
        for (key, value) in sandbox.sorted(by: { $0.key < $1.key }) {
            // Byte for byte: String equality is canonical equivalence, under which e.g. a
            // KELVIN SIGN (U+212A) equals "K", and systemd compares bytes.
            guard Sandbox.directives.contains(where: { $0.utf8.elementsEqual(key.utf8) }) else {
                throw SpecError(field: "sandbox.\(key)", problem: "is not a sandbox directive Drover manages (known: \(Sandbox.directives.sorted().joined(separator: ", ")))")
            }
            if let value { try Self.checkUnquotedValue(value, field: "sandbox.\(key)") }
        }
    }

    /// One line of text that systemd takes as it is: no control characters (a newline would
    /// start a new directive), no noncharacters, at most `maxTextBytes` bytes.
    static func checkText(_ value: String, field: String) throws(SpecError) {
        if let problem = UnitFileText.problem(in: value) {
            throw SpecError(field: field, problem: "\(problem); values must be one line of printable text")
        }
        guard value.utf8.count <= maxTextBytes else {
            throw SpecError(field: field, problem: "is \(value.utf8.count) bytes long; at most \(maxTextBytes)")
        }
    }

    /// A value written into a unit file without quotes (sandbox directives): one line, no
    /// backslash anywhere (a trailing one continues the directive onto the next line and would
    /// swallow the directive after it, e.g. `NoNewPrivileges=yes`; with a mark fused to it, it
    /// is still a backslash to systemd), and no white space at either end (systemd strips it).
    static func checkUnquotedValue(_ value: String, field: String) throws(SpecError) {
        try checkText(value, field: field)
        guard !value.unicodeScalars.contains("\\") else {
            throw SpecError(field: field, problem: "contains a backslash, which would continue the directive onto the next line in the unit file")
        }
        if let first = value.unicodeScalars.first, let last = value.unicodeScalars.last,
           first == " " || last == " " || first.properties.isWhitespace || last.properties.isWhitespace {
            throw SpecError(field: field, problem: "starts or ends with white space, which systemd would strip")
        }
    }

    /// A path inside the release: relative, no `..`, no empty or odd components, and short
    /// enough for the filesystem (each component at most 255 bytes, the whole at most 1024).
    static func checkRelativePath(_ path: String, field: String) throws(SpecError) {
        guard !path.isEmpty else { throw SpecError(field: field, problem: "is empty") }
        guard !path.hasPrefix("/") else {
            throw SpecError(field: field, problem: "must be relative to the release (\"bin/server\"), not absolute")
        }
        try checkText(path, field: field)
        guard path.utf8.count <= maxBinaryBytes else {
            throw SpecError(field: field, problem: "is \(path.utf8.count) bytes long; at most \(maxBinaryBytes)")
        }
        for component in path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            guard !component.isEmpty, !component.elementsEqual(".".utf8), !component.elementsEqual("..".utf8) else {
                throw SpecError(field: field, problem: "must stay inside the release: no empty, '.' or '..' components")
            }
            guard component.count <= maxPathComponentBytes else {
                throw SpecError(field: field, problem: "has a path component of \(component.count) bytes; at most \(maxPathComponentBytes)")
            }
        }
    }

    /// A `CPUQuota=` in percent of one CPU, where given.
    static func checkCPUPercent(_ value: Int?, field: String) throws(SpecError) {
        if let value { try checkRange(value, Bounds.cpuPercent, field: field) }
    }

    /// A memory amount (`MemoryMax=`, a target), where given: 1 MiB to 1 PiB.
    static func checkMemoryBytes(_ value: UInt64?, field: String) throws(SpecError) {
        if let value, !Bounds.memoryBytes.contains(value) {
            throw SpecError(field: field, problem: "must be between 1 MiB (\(Bounds.memoryBytes.lowerBound)) and 1 PiB (\(Bounds.memoryBytes.upperBound)) bytes, not \(value)")
        }
    }

    static func checkRange(_ value: Int, _ range: ClosedRange<Int>, field: String) throws(SpecError) {
        guard range.contains(value) else {
            throw SpecError(field: field, problem: "must be between \(range.lowerBound) and \(range.upperBound), not \(value)")
        }
    }

    /// A secret's name is also its systemd credential's name and its file's name.
    public static func isSecretName(_ name: String) -> Bool {
        name.utf8.count <= 64 && isEnvironmentName(name)
    }

    static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 255, !(first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")) else { return false }
        return name.utf8.allSatisfy { NamePattern.isLower($0) || NamePattern.isUpper($0) || NamePattern.isDigit($0) || $0 == UInt8(ascii: "_") }
    }
}
