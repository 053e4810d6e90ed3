/// A JAAS login configuration as Kafka takes it in `sasl.jaas.config`:
/// `ModuleClass Flag key="value" key2=value2;`, one or more entries. The broker reads a PLAIN
/// listener's users from `user_NAME="password"` options, and a client (or a broker talking to
/// another) its own `username` and `password`. Parsed as Kafka's JaasConfig tokenizes it:
/// quoted values with backslash escapes, `//` and `/* */` comments.
public struct JaasConfig: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var loginModule: String
        /// required, requisite, sufficient or optional.
        public var flag: String
        public var options: [String: String]
    }

    public var entries: [Entry]

    public init(parsing text: String) throws(JaasConfigError) {
        var tokens = try Self.tokenize(text)
        var entries: [Entry] = []
        while !tokens.isEmpty {
            guard case .word(let module) = tokens.removeFirst() else { throw JaasConfigError("expected a login module class") }
            guard !tokens.isEmpty, case .word(let flag) = tokens.removeFirst(),
                  ["required", "requisite", "sufficient", "optional"].contains(flag.lowercased()) else {
                throw JaasConfigError("login module \(module): expected a control flag (required, requisite, sufficient, optional)")
            }
            var options: [String: String] = [:]
            while true {
                guard !tokens.isEmpty else { throw JaasConfigError("login module \(module): expected ';' at the end") }
                let token = tokens.removeFirst()
                if token == .semicolon { break }
                guard case .word(let key) = token, tokens.first == .equals else {
                    throw JaasConfigError("login module \(module): expected key=value")
                }
                tokens.removeFirst()
                guard !tokens.isEmpty else { throw JaasConfigError("login module \(module): option \(key) has no value") }
                switch tokens.removeFirst() {
                case .word(let value), .quoted(let value): options[key] = value
                default: throw JaasConfigError("login module \(module): option \(key) has no value")
                }
            }
            entries.append(Entry(loginModule: module, flag: flag.lowercased(), options: options))
        }
        guard !entries.isEmpty else { throw JaasConfigError("no login module") }
        self.entries = entries
    }

    /// The users a server side checks PLAIN passwords against: every `user_NAME` option.
    public var plainUsers: [String: String] {
        var users: [String: String] = [:]
        for entry in entries {
            for (key, value) in entry.options where key.hasPrefix("user_") && key.count > 5 {
                users[String(key.dropFirst(5))] = value
            }
        }
        return users
    }

    /// The first entry's option `key` (username, password).
    public func option(_ key: String) -> String? {
        entries.lazy.compactMap { $0.options[key] }.first
    }

    private enum Token: Equatable {
        case word(String)
        case quoted(String)
        case equals
        case semicolon
    }

    private static func tokenize(_ text: String) throws(JaasConfigError) -> [Token] {
        var tokens: [Token] = []
        let characters = Array(text.unicodeScalars)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            if character.properties.isWhitespace {
                index += 1
            } else if character == "/", index + 1 < characters.count, characters[index + 1] == "/" {
                while index < characters.count, characters[index] != "\n" { index += 1 }
            } else if character == "/", index + 1 < characters.count, characters[index + 1] == "*" {
                index += 2
                while index + 1 < characters.count, !(characters[index] == "*" && characters[index + 1] == "/") { index += 1 }
                guard index + 1 < characters.count else { throw JaasConfigError("unterminated comment") }
                index += 2
            } else if character == "=" {
                tokens.append(.equals)
                index += 1
            } else if character == ";" {
                tokens.append(.semicolon)
                index += 1
            } else if character == "\"" || character == "'" {
                var value = String.UnicodeScalarView()
                index += 1
                var closed = false
                while index < characters.count {
                    let next = characters[index]
                    if next == character { closed = true; index += 1; break }
                    if next == "\\", index + 1 < characters.count {
                        index += 1
                        let escaped = characters[index]
                        switch escaped {
                        case "n": value.append("\n")
                        case "t": value.append("\t")
                        default: value.append(escaped)
                        }
                    } else {
                        value.append(next)
                    }
                    index += 1
                }
                guard closed else { throw JaasConfigError("unterminated quoted value") }
                tokens.append(.quoted(String(value)))
            } else {
                var word = String.UnicodeScalarView()
                while index < characters.count {
                    let next = characters[index]
                    if next.properties.isWhitespace || next == "=" || next == ";" || next == "\"" || next == "'" { break }
                    word.append(next)
                    index += 1
                }
                tokens.append(.word(String(word)))
            }
        }
        return tokens
    }
}

public struct JaasConfigError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = "sasl.jaas.config: " + description }
}
