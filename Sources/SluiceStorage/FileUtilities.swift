import CSluiceUring
import Glibc

// Small-file helpers shared by the log and the broker's metadata (no Foundation here).

/// Writes a whole small file atomically (indexes, checkpoints, metadata): to a temporary name,
/// fdatasync when asked, rename over the target.
public func writeFileAtomically(path: String, bytes: [UInt8], sync: Bool) throws {
    let temporary = path + ".tmp"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw StorageError.io(errno: errno, operation: "open", path: temporary) }
    defer { close(fd) }
    var written = 0
    while written < bytes.count {
        let n = bytes.withUnsafeBytes { raw in write(fd, raw.baseAddress! + written, bytes.count - written) }
        if n < 0 {
            if errno == EINTR { continue }
            let code = errno
            throw code == ENOSPC || code == EDQUOT
                ? StorageError.diskFull(path: temporary) : StorageError.io(errno: code, operation: "write", path: temporary)
        }
        written += n
    }
    if sync && fdatasync(fd) != 0 { throw StorageError.io(errno: errno, operation: "fdatasync", path: temporary) }
    guard rename(temporary, path) == 0 else { throw StorageError.io(errno: errno, operation: "rename", path: path) }
}

/// A whole file, or nil when it cannot be read.
public func readWholeFile(path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { return nil }
    let file = SegmentFile(descriptor: dup(fd), path: path)
    return try? file.read(at: 0, count: Int(info.st_size))
}

/// The names in a directory, without "." and "..".
public func listDirectory(_ path: String) -> [String]? {
    guard let dir = opendir(path) else { return nil }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafePointer(to: entry.pointee.d_name) {
            $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// Removes a directory and everything under it (unlink, then rmdir), without a shell. Files
/// still open elsewhere live on until closed; that is what lets fetches in flight finish.
public func removeDirectoryTree(_ path: String) {
    for name in listDirectory(path) ?? [] {
        let child = path + "/" + name
        var info = stat()
        if lstat(child, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
            removeDirectoryTree(child)
        } else {
            unlink(child)
        }
    }
    rmdir(path)
}

/// syncfs(2) on the file system holding `path`: every file written there is made durable in
/// one call. False when it failed.
public func syncFileSystem(of path: String) -> Bool {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    return sluice_syncfs(fd) == 0
}
