import CGzip
import Foundation

/// A reader for the zip archives `torch.save` writes (`.pth`), strict about untrusted input:
/// every offset and size in the end record, the ZIP64 records, the central directory and the
/// local headers is checked against the file before it is used, entries are stored or deflated,
/// and each entry's CRC-32 is verified.
struct ZipArchive {
    struct Entry {
        let path: String
        let method: Int
        let crc: UInt32
        let compressedSize: Int
        let uncompressedSize: Int
        let dataOffset: Int
    }

    let entries: [Entry]
    private let data: Data
    private let name: String

    init(_ data: Data, name: String) throws {
        self.data = data
        self.name = name
        let reader = ByteReader(data: data, name: name)
        // The end-of-central-directory record: the last signature within 64 KiB of the end.
        guard data.count >= 22 else { throw LoupeIOError("\(name) is too short to be a zip archive") }
        var end = data.count - 22
        let lowest = Swift.max(0, data.count - 22 - 65_535)
        while end >= lowest, try reader.uint32(end) != 0x0605_4B50 { end -= 1 }
        guard end >= lowest else { throw LoupeIOError("\(name) is not a zip archive (no end-of-central-directory record)") }
        var count = Int(try reader.uint16(end + 10))
        var directorySize = Int(try reader.uint32(end + 12))
        var directoryOffset = Int(try reader.uint32(end + 16))
        if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            // ZIP64: the locator just before the end record points at the ZIP64 end record.
            guard end >= 20, try reader.uint32(end - 20) == 0x0706_4B50 else {
                throw LoupeIOError("\(name): missing ZIP64 locator")
            }
            let record = try reader.offset(try reader.uint64(end - 12))
            guard try reader.uint32(record) == 0x0606_4B50 else { throw LoupeIOError("\(name): bad ZIP64 end record") }
            count = try reader.offset(try reader.uint64(record + 32))
            directorySize = try reader.offset(try reader.uint64(record + 40))
            directoryOffset = try reader.offset(try reader.uint64(record + 48))
        }
        guard directoryOffset <= data.count, directorySize <= data.count - directoryOffset, count <= directorySize / 46 + 1 else {
            throw LoupeIOError("\(name): the central directory (\(count) entries at \(directoryOffset)) lies outside the file")
        }
        var entries: [Entry] = []
        var position = directoryOffset
        for _ in 0..<count {
            guard try reader.uint32(position) == 0x0201_4B50 else { throw LoupeIOError("\(name): corrupt central directory") }
            let method = Int(try reader.uint16(position + 10))
            let crc = try reader.uint32(position + 16)
            var compressed = UInt64(try reader.uint32(position + 20)), uncompressed = UInt64(try reader.uint32(position + 24))
            let (nameLength, extraLength, commentLength) = (
                Int(try reader.uint16(position + 28)), Int(try reader.uint16(position + 30)),
                Int(try reader.uint16(position + 32))
            )
            var localOffset = UInt64(try reader.uint32(position + 42))
            let path = String(decoding: try reader.bytes(position + 46, nameLength), as: UTF8.self)
            // ZIP64 sizes and offset sit in extra field 0x0001, in this order, for the fields that overflowed.
            var extra = position + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let (id, size) = (try reader.uint16(extra), Int(try reader.uint16(extra + 2)))
                if id == 1 {
                    var field = extra + 4
                    func next() throws -> UInt64? {
                        guard field + 8 <= extra + 4 + size else { return nil }
                        defer { field += 8 }
                        return try reader.uint64(field)
                    }
                    if uncompressed == 0xFFFF_FFFF, let value = try next() { uncompressed = value }
                    if compressed == 0xFFFF_FFFF, let value = try next() { compressed = value }
                    if localOffset == 0xFFFF_FFFF, let value = try next() { localOffset = value }
                }
                extra += 4 + size
            }
            let local = try reader.offset(localOffset)
            guard try reader.uint32(local) == 0x0403_4B50 else {
                throw LoupeIOError("\(name): entry \(path) has no local header")
            }
            let dataOffset = local + 30 + Int(try reader.uint16(local + 26)) + Int(try reader.uint16(local + 28))
            // A deflated entry may unpack beyond the file's size; contents(of:limit:) bounds that.
            let (compressedSize, uncompressedSize) = (try reader.offset(compressed), Int(exactly: uncompressed) ?? Int.max)
            guard dataOffset <= data.count, compressedSize <= data.count - dataOffset else {
                throw LoupeIOError("\(name): entry \(path) reaches past the end of the file")
            }
            entries.append(
                Entry(
                    path: path, method: method, crc: crc, compressedSize: compressedSize,
                    uncompressedSize: uncompressedSize, dataOffset: dataOffset))
            position += 46 + nameLength + extraLength + commentLength
        }
        self.entries = entries
    }

    /// An entry's bytes (stored or deflated), at most `limit` of them, CRC-checked.
    func contents(of entry: Entry, limit: Int) throws -> Data {
        guard entry.uncompressedSize <= limit else {
            throw LoupeIOError("\(name): entry \(entry.path) declares \(entry.uncompressedSize) bytes, more than Loupe reads")
        }
        let raw = data.subdata(in: entry.dataOffset..<(entry.dataOffset + entry.compressedSize))
        let bytes: Data
        switch entry.method {
        case 0: bytes = raw
        case 8: bytes = try Gzip.decompress(raw, limit: entry.uncompressedSize, name: "\(name): \(entry.path)", raw: true)
        default:
            throw LoupeIOError(
                "\(name): entry \(entry.path) uses compression method \(entry.method); Loupe reads stored and deflated entries")
        }
        guard bytes.count == entry.uncompressedSize else {
            throw LoupeIOError(
                "\(name): entry \(entry.path) holds \(bytes.count) bytes, not the \(entry.uncompressedSize) it declares")
        }
        let crc = bytes.withUnsafeBytes { buffer in
            UInt32(
                truncatingIfNeeded: buffer.isEmpty
                    ? 0 : crc32(0, buffer.bindMemory(to: UInt8.self).baseAddress, uInt(buffer.count)))
        }
        guard crc == entry.crc else {
            throw LoupeIOError("\(name): entry \(entry.path) fails its CRC check (the file is corrupt)")
        }
        return bytes
    }
}

/// Little-endian reads that throw instead of reading past the end.
private struct ByteReader {
    let data: Data
    let name: String

    func bytes(_ offset: Int, _ count: Int) throws -> Data {
        guard offset >= 0, count >= 0, offset <= data.count, count <= data.count - offset else {
            throw LoupeIOError("\(name): a zip record reaches past the end of the file")
        }
        return data.subdata(in: (data.startIndex + offset)..<(data.startIndex + offset + count))
    }

    private func value(_ offset: Int, _ size: Int) throws -> UInt64 {
        littleEndian(try bytes(offset, size))
    }

    func uint16(_ offset: Int) throws -> UInt16 { UInt16(try value(offset, 2)) }
    func uint32(_ offset: Int) throws -> UInt32 { UInt32(try value(offset, 4)) }
    func uint64(_ offset: Int) throws -> UInt64 { try value(offset, 8) }

    /// A 64-bit size or offset from the file as an Int inside the file, or an error.
    func offset(_ value: UInt64) throws -> Int {
        guard value <= UInt64(data.count) else {
            throw LoupeIOError("\(name): a zip offset or size (\(value)) lies beyond the file")
        }
        return Int(value)
    }
}
