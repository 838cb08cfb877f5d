import TOMLKit

/// Reads one table of a TOML document field by field, so every mistake becomes an `InputError`
/// with the file, the line (from `TOMLLineIndex`) and the dotted key. Keys not read are
/// reported by `finish()` as unknown, with the nearest known key as a suggestion.
public struct TOMLReader {
    public let file: String
    let index: TOMLLineIndex
    public let table: TOMLTable
    public let path: [String]
    private var known: [String] = []

    init(file: String, index: TOMLLineIndex, table: TOMLTable, path: [String] = []) {
        self.file = file
        self.index = index
        self.table = table
        self.path = path
    }

    /// Parses `text`, turning a syntax error into an `InputError` at its line.
    public static func parse(_ text: String, file: String) throws(InputError) -> TOMLReader {
        if let line = TOMLHeaderCheck.badHeaderLine(in: text) {
            throw InputError(file: file, line: line, key: nil,
                             problem: "not valid TOML: a table header is [NAME] or [\"QUOTED NAME\"], NAME made of letters, digits, '_' and '-'")
        }
        do {
            return TOMLReader(file: file, index: TOMLLineIndex(text), table: try TOMLTable(string: text))
        } catch let error as TOMLParseError {
            throw InputError(file: file, line: error.source.begin.line, key: nil, problem: "not valid TOML: \(error.description)")
        } catch {
            throw InputError(file: file, line: nil, key: nil, problem: "not valid TOML: \(error)")
        }
    }

    /// The line a dotted key path is written on, if it is found.
    public func line(of path: [String]) -> Int? { index.line(of: path) }

    public func dotted(_ key: String) -> String { (path + [key]).joined(separator: ".") }

    public func error(_ key: String?, _ problem: String) -> InputError {
        error(at: key.map { path + [$0] } ?? path, problem)
    }

    public func error(at full: [String], _ problem: String) -> InputError {
        InputError(file: file, line: index.line(of: full), key: full.isEmpty ? nil : full.joined(separator: "."), problem: problem)
    }

    /// The raw value of `key`, which counts as known from now on.
    public mutating func value(_ key: String) -> TOMLValueConvertible? {
        known.append(key)
        return table[key]
    }

    public mutating func number(_ key: String, in range: ClosedRange<Double>) throws(InputError) -> Double? {
        guard let value = value(key) else { return nil }
        guard let number = value.double ?? value.int.map(Double.init) else {
            throw error(key, "'\(dotted(key))' must be a number, not \(Self.describe(value))")
        }
        guard range.contains(number) else {
            throw error(key, "'\(dotted(key))' must be between \(range.lowerBound) and \(range.upperBound), not \(number)")
        }
        return number
    }

    public mutating func string(_ key: String) throws(InputError) -> String? {
        guard let value = value(key) else { return nil }
        guard let string = value.string else { throw error(key, "'\(dotted(key))' must be a string, not \(Self.describe(value))") }
        return string
    }

    public mutating func integer(_ key: String, in range: ClosedRange<Int>) throws(InputError) -> Int? {
        guard let value = value(key) else { return nil }
        guard let number = value.int else { throw error(key, "'\(dotted(key))' must be a whole number, not \(Self.describe(value))") }
        guard range.contains(number) else {
            throw error(key, "'\(dotted(key))' must be between \(range.lowerBound) and \(range.upperBound), not \(number)")
        }
        return number
    }

    public mutating func bool(_ key: String) throws(InputError) -> Bool? {
        guard let value = value(key) else { return nil }
        guard let bool = value.bool else { throw error(key, "'\(dotted(key))' must be true or false, not \(Self.describe(value))") }
        return bool
    }

    public mutating func strings(_ key: String) throws(InputError) -> [String]? {
        guard let value = value(key) else { return nil }
        guard let array = value.array, let strings = Optional(array.compactMap(\.string)), strings.count == array.count else {
            throw error(key, "'\(dotted(key))' must be a list of strings, like [\"a\", \"b\"]")
        }
        return strings
    }

    /// A duration in human units (`"30s"`), or a bare number of seconds, within `range`.
    public mutating func seconds(_ key: String, in range: ClosedRange<Double>) throws(InputError) -> Double? {
        try measure(key, in: range, kind: "a duration like \"30s\"", number: { $0.double ?? $0.int.map(Double.init) },
                    parse: HumanUnits.seconds, show: Self.format)
    }

    /// A size in human units (`"512M"`) or a number of bytes, within `range`.
    public mutating func bytes(_ key: String, in range: ClosedRange<UInt64>) throws(InputError) -> UInt64? {
        try measure(key, in: range, kind: "a size like \"512M\"", number: { $0.int.flatMap { $0 >= 0 ? UInt64($0) : nil } },
                    parse: HumanUnits.bytes, show: HumanUnits.describe(bytes:))
    }

    /// A value written in human units or as a bare number, read and range-checked.
    private mutating func measure<T: Comparable>(
        _ key: String, in range: ClosedRange<T>, kind: String, number: (TOMLValueConvertible) -> T?,
        parse: (String) -> Result<T, UnitProblem>, show: (T) -> String
    ) throws(InputError) -> T? {
        guard let value = value(key) else { return nil }
        let measured: T
        if let bare = number(value) {
            measured = bare
        } else if let text = value.string {
            switch parse(text) {
            case .success(let parsed): measured = parsed
            case .failure(let problem): throw error(key, "'\(dotted(key))': \(problem.message)")
            }
        } else {
            throw error(key, "'\(dotted(key))' must be \(kind), not \(Self.describe(value))")
        }
        guard range.contains(measured) else {
            throw error(key, "'\(dotted(key))' must be between \(show(range.lowerBound)) and \(show(range.upperBound)), not \(show(measured))")
        }
        return measured
    }

    /// A sub-table, read with its own reader (its unknown keys are checked by its `finish`).
    public mutating func table(_ key: String) throws(InputError) -> TOMLReader? {
        guard let value = value(key) else { return nil }
        guard let table = value.table else { throw error(key, "'\(dotted(key))' must be a table ([\(dotted(key))])") }
        return TOMLReader(file: file, index: index, table: table, path: path + [key])
    }

    /// Every key of this table, for tables whose keys are free (environment, sandbox).
    public mutating func allKeys() -> [String] {
        known.append(contentsOf: table.keys)
        return table.keys.sorted()
    }

    /// Refuses keys that were never read: a typo must not be silently ignored.
    public func finish() throws(InputError) {
        for key in table.keys.sorted() where !known.contains(key) {
            let suggestion = Suggestion.closest(to: key, in: known).map { " (did you mean '\($0)'?)" } ?? ""
            throw error(key, "unknown key '\(dotted(key))'\(suggestion)")
        }
    }

    public static func describe(_ value: TOMLValueConvertible) -> String {
        switch value.type {
        case .string: "the string \"\(value.string ?? "")\""
        case .int: "the number \(value.int ?? 0)"
        case .double: "the number \(value.double ?? 0)"
        case .bool: "\(value.bool ?? false)"
        case .array: "a list"
        case .table: "a table"
        default: "a \(value.type)"
        }
    }

    public static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? "\(Int(value))s" : "\(value)s"
    }
}
