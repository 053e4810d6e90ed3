/// Kafka's rules for topic names: 1–249 characters of [a-zA-Z0-9._-], not "." or "..".
public enum TopicName {
    public static let maximumLength = 249

    /// Why `name` is not a legal topic name, or nil when it is.
    public static func validationError(_ name: String) -> String? {
        if name.isEmpty { return "Topic name is illegal, it can't be empty" }
        if name == "." || name == ".." { return "Topic name cannot be \".\" or \"..\"" }
        if name.utf8.count > maximumLength {
            return "Topic name is illegal, it can't be longer than \(maximumLength) characters, topic name: \(name)"
        }
        for byte in name.utf8 {
            let legal = (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x2E || byte == 0x5F || byte == 0x2D
            if !legal {
                return "Topic name \(name) is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
            }
        }
        return nil
    }

    /// Names that differ only in '.' versus '_' collide in metric names, so Kafka refuses the
    /// second; this is the form they are compared in.
    public static func collisionKey(_ name: String) -> String {
        String(name.map { $0 == "." ? "_" : $0 })
    }

    /// Internal topics start with "__"; clients must not auto-create them.
    public static func isInternal(_ name: String) -> Bool {
        name.hasPrefix("__")
    }
}
