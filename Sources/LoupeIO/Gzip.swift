import CGzip
import Foundation

/// gzip decompression through zlib, with a bound on the output size.
enum Gzip {
    /// Whether `data` starts with the gzip magic bytes.
    static func isCompressed(_ data: Data) -> Bool {
        data.count >= 2 && data[data.startIndex] == 0x1F && data[data.startIndex + 1] == 0x8B
    }

    /// Inflates a gzip stream, refusing to produce more than `limit` bytes.
    /// Inflates a gzip stream (or, with `raw`, a bare deflate stream as zip entries hold),
    /// refusing to produce more than `limit` bytes.
    static func decompress(_ data: Data, limit: Int, name: String, raw: Bool = false) throws -> Data {
        var stream = z_stream()
        guard loupe_inflate_init(&stream, raw ? -MAX_WBITS : 16 + MAX_WBITS) == Z_OK else {
            throw LoupeIOError("\(name): cannot start decompression")
        }
        defer { inflateEnd(&stream) }
        var output = Data()
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        var input = [UInt8](data)
        let status: Int32 = input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(source.count)
            while true {
                let code: Int32 = buffer.withUnsafeMutableBufferPointer { target in
                    stream.next_out = target.baseAddress
                    stream.avail_out = uInt(chunk)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                output.append(contentsOf: buffer[0..<(chunk - Int(stream.avail_out))])
                if code != Z_OK || output.count > limit { return code }
            }
        }
        guard output.count <= limit else { throw LoupeIOError("\(name): decompresses to more than \(limit) bytes") }
        guard status == Z_STREAM_END else { throw LoupeIOError("\(name): corrupt compressed data (zlib status \(status))") }
        return output
    }
}
