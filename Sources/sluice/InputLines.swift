import Dispatch
import Glibc

/// The lines of an input (stdin or a file), without their "\n" or "\r\n", read a chunk at a
/// time on a dispatch queue: a read that blocks (a terminal, a quiet pipe) holds neither one of
/// Swift's few cooperative threads — which the producer needs — nor the shutdown, because it
/// waits in poll(2) on the input and on `stopDescriptor` together and ends when the latter
/// becomes readable.
final class InputLines {
    private let descriptor: Int32
    private let stopDescriptor: Int32
    private let ownsDescriptor: Bool
    private var buffer: [UInt8] = []
    private var start = 0
    private var ended = false
    private let queue = DispatchQueue(label: "sluice.input")

    /// stdin when `path` is nil.
    init(path: String?, stopDescriptor: Int32) throws {
        if let path {
            let opened = open(path, O_RDONLY | O_CLOEXEC)
            guard opened >= 0 else { throw InputError("cannot open \(path): \(String(cString: strerror(errno)))") }
            descriptor = opened
            ownsDescriptor = true
        } else {
            descriptor = 0
            ownsDescriptor = false
        }
        self.stopDescriptor = stopDescriptor
    }

    deinit {
        if ownsDescriptor { close(descriptor) }
    }

    /// The next line; nil at the end of the input or once stopped.
    func next() async -> String? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = newline
                if end > start && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = String(decoding: buffer[start..<end], as: UTF8.self)
                start = newline + 1
                return line
            }
            if ended {
                // A last line without a newline still counts.
                guard start < buffer.count else { return nil }
                let line = String(decoding: buffer[start...], as: UTF8.self)
                start = buffer.count
                return line
            }
            buffer.removeSubrange(0..<start)
            start = 0
            guard let chunk = await readChunk() else {
                ended = true
                continue
            }
            buffer += chunk
        }
    }

    /// Up to 64 KiB; nil at the end of the input, on a read error, or when stopped.
    private func readChunk() async -> [UInt8]? {
        let descriptor = self.descriptor
        let stopDescriptor = self.stopDescriptor
        return await withCheckedContinuation { (continuation: CheckedContinuation<[UInt8]?, Never>) in
            queue.async {
                continuation.resume(returning: Self.blockingRead(descriptor, stop: stopDescriptor))
            }
        }
    }

    private static func blockingRead(_ descriptor: Int32, stop: Int32) -> [UInt8]? {
        var fds = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0), pollfd(fd: stop, events: Int16(POLLIN), revents: 0)]
        while true {
            let ready = poll(&fds, stop >= 0 ? 2 : 1, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if stop >= 0 && fds[1].revents != 0 { return nil }
            if fds[0].revents != 0 { break }
        }
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return nil }
            chunk.removeSubrange(count...)
            return chunk
        }
    }
}

struct InputError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
