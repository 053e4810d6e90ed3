import Glibc
import NIOCore
import Testing
@testable import SluiceStorage

/// Every back end and io_uring write path makes the same bytes and the same failures from one
/// group of requests: runs of back-to-back writes, several files, syncs, and a file that
/// cannot be written.
@Suite("I/O back ends")
struct IOBackendsTests {
    enum Kind: String, CaseIterable {
        case pwrite, uringRing, uringInline
    }

    static func backend(_ kind: Kind) throws -> any IOBackend {
        switch kind {
        case .pwrite: return PwriteBackend()
        case .uringRing: return try URingBackend.make(depth: 4, writesInRing: true).get()
        case .uringInline: return try URingBackend.make(depth: 4, writesInRing: false).get()
        }
    }

    static func request(_ file: SegmentFile, at position: Int64, _ text: String, sync: Bool) -> WriteRequest {
        WriteRequest(file: file, position: position, data: ByteBuffer(string: text), sync: sync, completion: { _ in })
    }

    static func contents(_ path: String) -> String {
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let n = read(fd, &bytes, bytes.count)
        return String(decoding: bytes.prefix(max(0, n)), as: UTF8.self)
    }

    @Test(arguments: Kind.allCases)
    func aGroupLandsInEveryFileAtItsPositions(kind: Kind) throws {
        let directory = TemporaryDirectory()
        // More files to sync than the ring is deep (4): the syncs go in waves.
        let files = try (0..<6).map { try SegmentFile.open(path: directory.path + "/f\($0)", create: true) }
        var group: [WriteRequest] = []
        for (index, file) in files.enumerated() {
            group.append(Self.request(file, at: 0, "a\(index)", sync: false))
            group.append(Self.request(file, at: 2, "b\(index)", sync: index % 2 == 0))
            // Not contiguous with the run before: a second run for the same file.
            group.append(Self.request(file, at: 8, "c\(index)", sync: false))
        }
        let results = try Self.backend(kind).perform(group)
        #expect(results.count == group.count)
        for result in results { try result.get() }
        for (index, file) in files.enumerated() {
            #expect(Self.contents(file.path) == "a\(index)b\(index)\0\0\0\0c\(index)")
        }
    }

    @Test(arguments: Kind.allCases)
    func aFileThatCannotBeWrittenFailsItsRequestsOnly(kind: Kind) throws {
        let directory = TemporaryDirectory()
        let good = try SegmentFile.open(path: directory.path + "/good", create: true)
        let readOnlyPath = directory.path + "/read-only"
        close(open(readOnlyPath, O_CREAT | O_WRONLY, 0o644))
        let readOnly = SegmentFile(descriptor: open(readOnlyPath, O_RDONLY), path: readOnlyPath)
        let group = [Self.request(readOnly, at: 0, "x", sync: true), Self.request(good, at: 0, "ok", sync: true),
                     Self.request(readOnly, at: 1, "y", sync: false)]
        let results = try Self.backend(kind).perform(group)
        for index in [0, 2] {
            guard case .failure(.io(let code, _, let path)) = results[index] else {
                Issue.record("request \(index) to the read-only file: \(results[index])")
                continue
            }
            #expect(code == EBADF && path == readOnlyPath)
        }
        try results[1].get()
        #expect(Self.contents(good.path) == "ok")
    }

    @Test func theProbeAnswersForARealDirectoryAndNotForAMissingOne() {
        let directory = TemporaryDirectory()
        let answer = BufferedWriteProbe.probe(directory: directory.path)
        #expect(answer == .nonBlocking || answer == .blocking, "\(answer)")
        guard case .unknown = BufferedWriteProbe.probe(directory: directory.path + "/missing") else {
            Issue.record("a missing directory cannot be probed")
            return
        }
        // The probe leaves nothing behind in the data directory.
        #expect(system("test -z \"$(ls -A '\(directory.path)')\"") == 0)
    }

    @Test func automaticWritesOnTheStorageThreadWhateverTheFileSystem() throws {
        // The ring's write path lost to the storage thread's own writes on ext4 and on XFS, so
        // `automatic` never picks it; only `ring` does.
        let directory = TemporaryDirectory()
        let automatic = makeLogWriter(backend: .ioUring, directory: directory.path, uringWrites: .automatic)
        defer { automatic.writer.shutdown() }
        #expect(automatic.fallbackReason == nil, "io_uring is needed here, as by the ring tests above")
        #expect(automatic.writer.backendName == "io_uring, writes inline")
        let ring = makeLogWriter(backend: .ioUring, directory: directory.path, uringWrites: .ring)
        defer { ring.writer.shutdown() }
        #expect(ring.writer.backendName == "io_uring")
    }
}
