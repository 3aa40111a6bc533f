/// A restricted reader for the pickles inside PyTorch checkpoints and NumPy object arrays.
///
/// It understands exactly what those need: containers, numbers, strings, and the globals of its
/// ``AllowList``. Any other global (`os.system`, `builtins.eval`, ...) is refused by name the
/// moment it is named, before anything is called; nothing in a file is ever executed. Calls
/// (`REDUCE`) and `BUILD` are interpreted, never performed.
struct Unpickler {
    /// The globals one kind of file may name, and what that kind is, for the refusal.
    struct AllowList {
        let globals: Set<String>
        /// What such a file is, as the refusal says it ("a weights file").
        let file: String
        /// What is read from it, as the refusal says it ("state_dict checkpoints").
        let reads: String

        /// The globals a torchvision or `torch.save(model.state_dict())` file names.
        static let stateDict = AllowList(
            globals: [
                "collections.OrderedDict",
                "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor", "torch._utils._rebuild_parameter",
                "torch.FloatStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.DoubleStorage",
                "torch.LongStorage", "torch.IntStorage", "torch.ByteStorage", "torch.BoolStorage",
                "torch.float32", "torch.float16", "torch.bfloat16",
            ], file: "a weights file", reads: "state_dict checkpoints")

        /// The globals `np.save` names for an object array (a dict saved with `np.savez`), under
        /// NumPy 2's module name and NumPy 1's.
        static let numpyObjectArray = AllowList(
            globals: [
                "numpy._core.multiarray._reconstruct", "numpy.core.multiarray._reconstruct", "numpy.ndarray", "numpy.dtype",
            ], file: "a NumPy array of labels", reads: "arrays of dicts, numbers and strings")
    }

    /// A value on the pickle machine's stack.
    indirect enum Value {
        case none, bool(Bool), int(Int), float(Double), string(String), bytes([UInt8])
        case tuple([Value]), list(ListBox), dict(DictBox)
        case global(String)
        case storage(Storage)
        case tensor(TensorReference)
        case array(ArrayBox)
        case dtype(DTypeBox)
        case mark
    }

    final class ListBox { var items: [Value] = [] }
    final class DictBox { var entries: [(key: Value, value: Value)] = [] }

    /// A NumPy array as `numpy.core.multiarray._reconstruct` makes it, filled in by its `BUILD`
    /// state `(version, shape, dtype, is_fortran, data)`: the objects for an object array.
    final class ArrayBox {
        var shape: [Int] = [0]
        var dtype = "uint8"
        var objects: [Value] = []
    }

    /// A NumPy dtype as `numpy.dtype(descr, align, copy)` makes it.
    final class DTypeBox {
        let descriptor: String
        init(_ descriptor: String) { self.descriptor = descriptor }
    }

    /// A storage named by a persistent id: `('storage', torch.FloatStorage, key, location, numel)`.
    struct Storage {
        let dtype: String
        let key: String
        let count: Int
    }

    /// A tensor as `_rebuild_tensor_v2` describes it: a strided view of a storage.
    struct TensorReference {
        let storage: Storage
        let offset: Int
        let shape: [Int]
        let strides: [Int]
    }

    private let bytes: [UInt8]
    private let name: String
    private let allowList: AllowList
    /// Where the next opcode is read: after ``load()``, just past the pickle's STOP, where a
    /// stream of several pickles (the legacy `torch.save` format) continues.
    private(set) var position: Int
    private var stack: [Value] = []
    private var memo: [Int: Value] = [:]
    /// Every storage a persistent id named, by key.
    private(set) var storages: [String: Storage] = [:]

    /// A reader for the pickle that starts at `position` of `bytes`, naming only `allowList`'s globals.
    init(_ bytes: [UInt8], name: String, position: Int = 0, allowList: AllowList = .stateDict) {
        self.bytes = bytes
        self.name = name
        self.position = position
        self.allowList = allowList
    }

    /// Runs the pickle and returns its result.
    mutating func load() throws -> Value {
        while true {
            let opcode = try readByte()
            switch opcode {
            case 0x80: _ = try readByte()  // PROTO
            case 0x95: _ = try readInteger(8)  // FRAME
            case 0x2E: return try pop()  // STOP
            case 0x28: stack.append(.mark)  // MARK
            case 0x4E: stack.append(.none)  // NONE
            case 0x88: stack.append(.bool(true))  // NEWTRUE
            case 0x89: stack.append(.bool(false))  // NEWFALSE
            case 0x4A: stack.append(.int(Int(Int32(truncatingIfNeeded: try readInteger(4)))))  // BININT
            case 0x4B: stack.append(.int(try readInteger(1)))  // BININT1
            case 0x4D: stack.append(.int(try readInteger(2)))  // BININT2
            case 0x8A: stack.append(.int(try readLong(try readInteger(1))))  // LONG1
            case 0x47:  // BINFLOAT (big-endian)
                let raw = try readBytes(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                stack.append(.float(Double(bitPattern: raw)))
            case 0x58: stack.append(.string(try readString(try readInteger(4))))  // BINUNICODE
            case 0x8C: stack.append(.string(try readString(try readInteger(1))))  // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(try readString(try readInteger(8))))  // BINUNICODE8
            case 0x54: stack.append(.string(try readLatin1(try readInteger(4))))  // BINSTRING
            case 0x55: stack.append(.string(try readLatin1(try readInteger(1))))  // SHORT_BINSTRING
            case 0x42: stack.append(.bytes(try readBytes(try readInteger(4))))  // BINBYTES
            case 0x43: stack.append(.bytes(try readBytes(try readInteger(1))))  // SHORT_BINBYTES
            case 0x29: stack.append(.tuple([]))  // EMPTY_TUPLE
            case 0x74: stack.append(.tuple(try popToMark()))  // TUPLE
            case 0x85: stack.append(.tuple([try pop()]))  // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); stack.append(.tuple([a, b]))  // TUPLE2
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); stack.append(.tuple([a, b, c]))  // TUPLE3
            case 0x5D: stack.append(.list(ListBox()))  // EMPTY_LIST
            case 0x7D: stack.append(.dict(DictBox()))  // EMPTY_DICT
            case 0x61: let item = try pop(); try list(at: stack.count - 1).items.append(item)  // APPEND
            case 0x65: let items = try popToMark(); try list(at: stack.count - 1).items += items  // APPENDS
            case 0x73:  // SETITEM
                let value = try pop(), key = try pop()
                try dict(at: stack.count - 1).entries.append((key, value))
            case 0x75:  // SETITEMS
                let items = try popToMark()
                guard items.count % 2 == 0 else { throw malformed("odd SETITEMS") }
                let target = try dict(at: stack.count - 1)
                for index in stride(from: 0, to: items.count, by: 2) { target.entries.append((items[index], items[index + 1])) }
            case 0x71: memo[try readInteger(1)] = try top()  // BINPUT
            case 0x72: memo[try readInteger(4)] = try top()  // LONG_BINPUT
            case 0x94: memo[memo.count] = try top()  // MEMOIZE
            case 0x68: stack.append(try memoized(try readInteger(1)))  // BINGET
            case 0x6A: stack.append(try memoized(try readInteger(4)))  // LONG_BINGET
            case 0x63:  // GLOBAL
                let module = try readLine(), name = try readLine()
                stack.append(.global(try resolve(module, name)))
            case 0x93:  // STACK_GLOBAL
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
                    throw malformed("STACK_GLOBAL without names")
                }
                stack.append(.global(try resolve(module, name)))
            case 0x51: stack.append(try persistentLoad(try pop()))  // BINPERSID
            case 0x52:  // REDUCE
                let arguments = try pop(), callable = try pop()
                stack.append(try call(callable, arguments))
            case 0x62: try build(state: try pop(), into: try top())  // BUILD
            default:
                throw LoupeIOError(
                    "\(name): the pickle uses opcode 0x\(String(opcode, radix: 16)), which \(allowList.file) never needs; refusing to read it"
                )
            }
        }
    }

    /// Protocol-2 pickles spell some Python 3 modules by their Python 2 names.
    private static let python3Modules = ["__builtin__": "builtins", "copy_reg": "copyreg", "commands": "subprocess"]

    private func resolve(_ module: String, _ name: String) throws -> String {
        let qualified = "\(Unpickler.python3Modules[module] ?? module).\(name)"
        guard allowList.globals.contains(qualified) else {
            throw LoupeIOError(
                "\(self.name): refusing to load: the pickle names the global '\(qualified)', which \(allowList.file) never needs (it could run code); only \(allowList.reads) are read"
            )
        }
        return qualified
    }

    /// `('storage', type, key, location, numel)`, or the legacy format's with a sixth part, the
    /// view metadata, which `torch.save` leaves `None` (views of a storage are refused).
    private mutating func persistentLoad(_ identifier: Value) throws -> Value {
        guard case .tuple(let parts) = identifier, parts.count == 5 || parts.count == 6, case .string("storage") = parts[0],
            case .global(let type) = parts[1], case .string(let key) = parts[2], case .int(let count) = parts[4],
            count >= 0
        else {
            throw malformed("an unexpected persistent id")
        }
        if parts.count == 6 {
            guard case .none = parts[5] else {
                throw malformed("a view of a storage, which torch.save never writes for a state_dict")
            }
        }
        let storage = Storage(dtype: type, key: key, count: count)
        if let seen = storages[key], seen.dtype != type || seen.count != count {
            throw malformed("storage \(key) declared twice, differently")
        }
        storages[key] = storage
        return .storage(storage)
    }

    private func call(_ callable: Value, _ arguments: Value) throws -> Value {
        guard case .global(let function) = callable, case .tuple(let args) = arguments else {
            throw malformed("a call to something that is not an allowed global")
        }
        switch function {
        case "collections.OrderedDict":
            return .dict(DictBox())
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            guard args.count >= 4, case .storage(let storage) = args[0], case .int(let offset) = args[1],
                case .tuple(let shapeValues) = args[2], case .tuple(let strideValues) = args[3]
            else {
                throw malformed("a tensor with unexpected arguments")
            }
            let shape = try shapeValues.map(integer), strides = try strideValues.map(integer)
            guard shape.count == strides.count else { throw malformed("a tensor whose shape and strides differ in rank") }
            return .tensor(TensorReference(storage: storage, offset: offset, shape: shape, strides: strides))
        case "torch._utils._rebuild_parameter":
            guard let data = args.first else { throw malformed("a parameter without data") }
            return data
        case "numpy._core.multiarray._reconstruct", "numpy.core.multiarray._reconstruct":
            guard case .global("numpy.ndarray") = args.first else { throw malformed("an array of a class other than ndarray") }
            return .array(ArrayBox())
        case "numpy.dtype":
            guard case .string(let descriptor) = args.first else { throw malformed("a dtype without a descriptor") }
            return .dtype(DTypeBox(descriptor))
        default:
            throw malformed("a call to \(function)")
        }
    }

    /// `BUILD`: an array takes its shape, dtype and objects from its state; a dtype's state (its
    /// byte order and flags) adds nothing its descriptor does not say; any other object's state
    /// (a state_dict's `_metadata`) is set aside.
    private func build(state: Value, into object: Value) throws {
        guard case .array(let array) = object else { return }
        guard case .tuple(let parts) = state, parts.count == 5, case .tuple(let shapeValues) = parts[1],
            case .dtype(let dtype) = parts[2], case .bool(false) = parts[3]
        else {
            throw malformed("an array state other than (version, shape, dtype, C order, data)")
        }
        array.shape = try shapeValues.map(integer)
        array.dtype = dtype.descriptor
        guard dtype.descriptor == "O8" || dtype.descriptor == "O4", case .list(let objects) = parts[4] else {
            throw malformed("an array of dtype \(dtype.descriptor) inside a pickle (only object arrays are pickled)")
        }
        guard let count = checkedProduct(array.shape), count == objects.items.count else {
            throw malformed("an object array of shape \(array.shape) holding \(objects.items.count) objects")
        }
        array.objects = objects.items
    }

    private func integer(_ value: Value) throws -> Int {
        guard case .int(let number) = value else { throw malformed("a non-integer dimension") }
        return number
    }

    private func malformed(_ what: String) -> LoupeIOError {
        LoupeIOError("\(name): the pickle is malformed or not \(allowList.file) (\(what))")
    }

    private mutating func pop() throws -> Value {
        guard let value = stack.popLast() else { throw malformed("stack underflow") }
        return value
    }

    private func top() throws -> Value {
        guard let value = stack.last else { throw malformed("stack underflow") }
        return value
    }

    private func memoized(_ index: Int) throws -> Value {
        guard let value = memo[index] else { throw malformed("a reference to an unknown memo entry") }
        return value
    }

    private mutating func popToMark() throws -> [Value] {
        guard let mark = stack.lastIndex(where: { if case .mark = $0 { return true } else { return false } }) else {
            throw malformed("no MARK")
        }
        let items = Array(stack[(mark + 1)...])
        stack.removeSubrange(mark...)
        return items
    }

    private func list(at index: Int) throws -> ListBox {
        guard index >= 0, case .list(let box) = stack[index] else { throw malformed("APPEND outside a list") }
        return box
    }

    private func dict(at index: Int) throws -> DictBox {
        guard index >= 0, case .dict(let box) = stack[index] else { throw malformed("SETITEM outside a dict") }
        return box
    }

    private mutating func readByte() throws -> UInt8 {
        guard position < bytes.count else { throw malformed("it ends early") }
        defer { position += 1 }
        return bytes[position]
    }

    private mutating func readBytes(_ count: Int) throws -> [UInt8] {
        guard count >= 0, count <= bytes.count - position else { throw malformed("a length runs past its end") }
        defer { position += count }
        return Array(bytes[position..<(position + count)])
    }

    /// A little-endian unsigned integer of `width` bytes.
    private mutating func readInteger(_ width: Int) throws -> Int {
        let raw = try readBytes(width)
        guard width < 8 || raw[7] & 0x80 == 0 else { throw malformed("a negative length") }
        return Int(littleEndian(raw))
    }

    /// A little-endian two's-complement integer of `width` bytes (at most 8).
    private mutating func readLong(_ width: Int) throws -> Int {
        guard width <= 8 else { throw malformed("an integer wider than 64 bits") }
        let raw = try readBytes(width)
        guard !raw.isEmpty else { return 0 }
        var value = littleEndian(raw)
        if width < 8 && raw[width - 1] & 0x80 != 0 { value |= ~UInt64(0) << (8 * UInt64(width)) }
        return Int(Int64(bitPattern: value))
    }

    private mutating func readString(_ count: Int) throws -> String {
        String(decoding: try readBytes(count), as: UTF8.self)
    }

    /// A Python 2 byte string (which NumPy 1 files made under Python 2 hold), as Latin-1 text.
    private mutating func readLatin1(_ count: Int) throws -> String {
        String(decoding: try readBytes(count).map { UInt16($0) }, as: UTF16.self)
    }

    private mutating func readLine() throws -> String {
        guard let end = bytes[position...].firstIndex(of: 0x0A) else { throw malformed("an unterminated name") }
        defer { position = end + 1 }
        return String(decoding: bytes[position..<end], as: UTF8.self)
    }
}
