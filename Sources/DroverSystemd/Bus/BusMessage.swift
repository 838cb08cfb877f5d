import CSystemd

/// An sd-bus message, built with the non-variadic append functions and read back generically.
///
/// `@unchecked Sendable` because messages only live on the bus loop thread: they are created
/// and read by `SystemdClient` (whose executor is that thread) and by sd-bus callbacks there.
final class BusMessage: @unchecked Sendable {
    let pointer: OpaquePointer

    /// Takes over a reference the caller owns.
    init(adopting pointer: OpaquePointer) {
        self.pointer = pointer
    }

    /// Takes a new reference (for messages sd-bus lends to a callback).
    init(retaining pointer: OpaquePointer) {
        self.pointer = sd_bus_message_ref(pointer)
    }

    deinit {
        sd_bus_message_unref(pointer)
    }

    /// The object path a signal was emitted on (or a call is addressed to).
    var path: String? {
        sd_bus_message_get_path(pointer).map { String(cString: $0) }
    }

    // MARK: Writing

    func append(_ value: String) throws(SystemdError) {
        try appendString(value, type: "s")
    }

    func append(objectPath value: String) throws(SystemdError) {
        try appendString(value, type: "o")
    }

    func append(_ value: Bool) throws(SystemdError) {
        var int: Int32 = value ? 1 : 0
        try checked("sd_bus_message_append_basic", sd_bus_message_append_basic(pointer, Self.code("b"), &int))
    }

    func append(_ value: UInt64) throws(SystemdError) {
        var copy = value
        try checked("sd_bus_message_append_basic", sd_bus_message_append_basic(pointer, Self.code("t"), &copy))
    }

    func append(_ value: UInt32) throws(SystemdError) {
        var copy = value
        try checked("sd_bus_message_append_basic", sd_bus_message_append_basic(pointer, Self.code("u"), &copy))
    }

    func append(_ strings: [String]) throws(SystemdError) {
        try withContainer("a", "s") { () throws(SystemdError) in
            for string in strings { try append(string) }
        }
    }

    /// Appends a container (`a`, `r`, `v`, `e`) whose contents `body` writes.
    func withContainer(
        _ type: Character, _ contents: String, _ body: () throws(SystemdError) -> Void
    ) throws(SystemdError) {
        let opened = contents.withCString { sd_bus_message_open_container(pointer, Self.code(type), $0) }
        try checked("sd_bus_message_open_container", opened)
        try body()
        try checked("sd_bus_message_close_container", sd_bus_message_close_container(pointer))
    }

    private func appendString(_ value: String, type: Character) throws(SystemdError) {
        let result = value.withCString { sd_bus_message_append_basic(pointer, Self.code(type), $0) }
        try checked("sd_bus_message_append_basic", result)
    }

    // MARK: Reading

    /// Reads the next `s`, `o` or `g`.
    func readString() throws(SystemdError) -> String {
        guard let value = try readValue()?.string else {
            throw SystemdError(.busFailure, message: "expected a string in the reply of systemd")
        }
        return value
    }

    /// Reads every remaining value at the current level.
    func readAll() throws(SystemdError) -> [BusValue] {
        var values: [BusValue] = []
        while let value = try readValue() { values.append(value) }
        return values
    }

    /// Reads the next value of any type (variants are unwrapped); nil at the end of the
    /// message or of the current container.
    func readValue() throws(SystemdError) -> BusValue? {
        var type: CChar = 0
        var contents: UnsafePointer<CChar>? = nil
        let more = try checked("sd_bus_message_peek_type", sd_bus_message_peek_type(pointer, &type, &contents))
        guard more > 0 else { return nil }
        let signature = contents.map { String(cString: $0) } ?? ""
        switch UInt8(bitPattern: type) {
        case UInt8(ascii: "a"):
            if signature == "y" { return .bytes(try readByteArray()) }
            return .array(try readContainer(type, signature))
        case UInt8(ascii: "r"), UInt8(ascii: "e"):
            return .structure(try readContainer(type, signature))
        case UInt8(ascii: "v"):
            let inner = try readContainer(type, signature)
            guard let value = inner.first else {
                throw SystemdError(.busFailure, message: "empty variant in the reply of systemd")
            }
            return value
        default:
            return try readBasic(type)
        }
    }

    private func readContainer(_ type: CChar, _ signature: String) throws(SystemdError) -> [BusValue] {
        let entered = signature.withCString { sd_bus_message_enter_container(pointer, type, $0) }
        try checked("sd_bus_message_enter_container", entered)
        let values = try readAll()
        try checked("sd_bus_message_exit_container", sd_bus_message_exit_container(pointer))
        return values
    }

    private func readByteArray() throws(SystemdError) -> [UInt8] {
        var data: UnsafeRawPointer? = nil
        var size = 0
        try checked("sd_bus_message_read_array", sd_bus_message_read_array(pointer, Self.code("y"), &data, &size))
        guard let data, size > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: size))
    }

    private func readBasic(_ type: CChar) throws(SystemdError) -> BusValue {
        func read<T: BitwiseCopyable>(_ initial: T) throws(SystemdError) -> T {
            var value = initial
            let result = withUnsafeMutableBytes(of: &value) { sd_bus_message_read_basic(pointer, type, $0.baseAddress) }
            try checked("sd_bus_message_read_basic", result)
            return value
        }
        switch UInt8(bitPattern: type) {
        case UInt8(ascii: "y"): return .uint(UInt64(try read(UInt8(0))))
        case UInt8(ascii: "b"): return .bool(try read(Int32(0)) != 0)
        case UInt8(ascii: "n"): return .int(Int64(try read(Int16(0))))
        case UInt8(ascii: "q"): return .uint(UInt64(try read(UInt16(0))))
        case UInt8(ascii: "i"), UInt8(ascii: "h"): return .int(Int64(try read(Int32(0))))
        case UInt8(ascii: "u"): return .uint(UInt64(try read(UInt32(0))))
        case UInt8(ascii: "x"): return .int(try read(Int64(0)))
        case UInt8(ascii: "t"): return .uint(try read(UInt64(0)))
        case UInt8(ascii: "d"): return .double(try read(Double(0)))
        case UInt8(ascii: "s"), UInt8(ascii: "o"), UInt8(ascii: "g"):
            let raw = try read(UnsafePointer<CChar>?.none)
            return .string(raw.map { String(cString: $0) } ?? "")
        default:
            let name = String(UnicodeScalar(UInt8(bitPattern: type)))
            throw SystemdError(.busFailure, message: "unsupported D-Bus type '\(name)' in the reply of systemd")
        }
    }

    // MARK: Errors

    /// The D-Bus error this reply carries, if it is an error reply.
    func error(unit: String?) -> SystemdError? {
        guard sd_bus_message_is_method_error(pointer, nil) != 0,
              let error = sd_bus_message_get_error(pointer)
        else { return nil }
        let name = error.pointee.name.map { String(cString: $0) } ?? "unknown error"
        let message = error.pointee.message.map { String(cString: $0) } ?? ""
        return SystemdError.fromBus(name: name, message: message, unit: unit)
    }

    static func code(_ type: Character) -> CChar {
        CChar(bitPattern: type.asciiValue!)
    }
}
