extension ServiceSpec {
    /// Environment variables Drover sets itself; a spec may not override them.
    public static let reservedEnvironment: Set<String> = ["PORT", "DROVER_SERVICE", "DROVER_VERSION", "DROVER_INSTANCE"]

    /// Checks every field that will reach a unit file. Values are still escaped when
    /// rendered; validation refuses what no escaping can make safe (newlines, control
    /// characters, paths leaving the release) and what makes no sense (a 0 s timeout).
    public func validate() throws(SpecError) {
        try Self.checkRelativePath(binary, field: "binary")
        for (index, argument) in arguments.enumerated() {
            try Self.checkText(argument, field: "arguments[\(index)]")
        }
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) {
            guard Self.isEnvironmentName(key) else {
                throw SpecError(field: "environment.\(key)", problem: "a variable name is letters, digits and '_', not starting with a digit")
            }
            guard !Self.reservedEnvironment.contains(key) else {
                throw SpecError(field: "environment.\(key)", problem: "is set by Drover for every instance and cannot be overridden")
            }
            try Self.checkText(value, field: "environment.\(key)")
        }
        try Self.checkRange(startTimeoutSeconds, 1...3_600, field: "startTimeoutSeconds")
        try Self.checkRange(stopTimeoutSeconds, 1...3_600, field: "stopTimeoutSeconds")
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
            guard health.path.hasPrefix("/"), !health.path.contains(" ") else {
                throw SpecError(field: "health.path", problem: "must be a URL path starting with '/', like /healthz")
            }
            try Self.checkText(health.path, field: "health.path")
            guard health.timeoutSeconds > 0, health.timeoutSeconds <= 60 else {
                throw SpecError(field: "health.timeoutSeconds", problem: "must be more than 0 and at most 60")
            }
        }
        if let listen {
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
                  (1...65535).contains(port), colon > listen.startIndex,
                  listen[..<colon].utf8.allSatisfy({ NamePattern.isLower($0) || NamePattern.isUpper($0) || NamePattern.isDigit($0)
                      || [UInt8(ascii: "."), UInt8(ascii: ":"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "-")].contains($0) })
            else {
                throw SpecError(field: "listen", problem: "must be ADDR:PORT, like 0.0.0.0:8080 or [::]:8080, not \"\(listen)\"")
            }
        }
        try Self.checkRange(restart.delaySeconds, 0...3_600, field: "restart.delaySeconds")
        try Self.checkRange(restart.burst, 1...1_000, field: "restart.burst")
        try Self.checkRange(restart.intervalSeconds, 1...86_400, field: "restart.intervalSeconds")
        try Self.checkCPUPercent(resources.cpuPercent, field: "resources.cpuPercent")
        try Self.checkMemoryBytes(resources.memoryBytes, field: "resources.memoryBytes")
        try Self.checkCPUPercent(resources.serviceCPUPercent, field: "resources.serviceCPUPercent")
        try Self.checkMemoryBytes(resources.serviceMemoryBytes, field: "resources.serviceMemoryBytes")
        for (key, value) in sandbox.sorted(by: { $0.key < $1.key }) {
            guard Sandbox.directives.contains(key) else {
                throw SpecError(field: "sandbox.\(key)", problem: "is not a sandbox directive Drover manages (known: \(Sandbox.directives.sorted().joined(separator: ", ")))")
            }
            if let value { try Self.checkUnquotedValue(value, field: "sandbox.\(key)") }
        }
    }

    /// One line of text: no control characters (a newline would start a new directive).
    static func checkText(_ value: String, field: String) throws(SpecError) {
        if let bad = value.unicodeScalars.first(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            let name = bad == "\n" ? "a newline" : "the control character U+\(String(bad.value, radix: 16, uppercase: true))"
            throw SpecError(field: field, problem: "contains \(name); values must be one line of printable text")
        }
    }

    /// A value written into a unit file without quotes (sandbox directives): one line, and no
    /// backslash, since a trailing one continues the directive onto the next line and would
    /// swallow the directive after it (e.g. `NoNewPrivileges=yes`).
    static func checkUnquotedValue(_ value: String, field: String) throws(SpecError) {
        try checkText(value, field: field)
        guard !value.contains("\\") else {
            throw SpecError(field: field, problem: "contains a backslash, which would continue the directive onto the next line in the unit file")
        }
    }

    /// A path inside the release: relative, no `..`, no empty or odd components.
    static func checkRelativePath(_ path: String, field: String) throws(SpecError) {
        guard !path.isEmpty else { throw SpecError(field: field, problem: "is empty") }
        guard !path.hasPrefix("/") else {
            throw SpecError(field: field, problem: "must be relative to the release (\"bin/server\"), not absolute")
        }
        try checkText(path, field: field)
        for component in path.split(separator: "/", omittingEmptySubsequences: false) {
            guard !component.isEmpty, component != ".", component != ".." else {
                throw SpecError(field: field, problem: "must stay inside the release: no empty, '.' or '..' components")
            }
        }
    }

    /// A `CPUQuota=` in percent of one CPU, where given.
    static func checkCPUPercent(_ value: Int?, field: String) throws(SpecError) {
        if let value { try checkRange(value, 1...100_000, field: field) }
    }

    /// A memory amount (`MemoryMax=`, a target), where given: at least 1 MiB.
    static func checkMemoryBytes(_ value: UInt64?, field: String) throws(SpecError) {
        if let value, value < 1 << 20 {
            throw SpecError(field: field, problem: "must be at least 1 MiB (1048576), not \(value)")
        }
    }

    static func checkRange(_ value: Int, _ range: ClosedRange<Int>, field: String) throws(SpecError) {
        guard range.contains(value) else {
            throw SpecError(field: field, problem: "must be between \(range.lowerBound) and \(range.upperBound), not \(value)")
        }
    }

    static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")) else { return false }
        return name.utf8.allSatisfy { NamePattern.isLower($0) || NamePattern.isUpper($0) || NamePattern.isDigit($0) || $0 == UInt8(ascii: "_") }
    }
}
