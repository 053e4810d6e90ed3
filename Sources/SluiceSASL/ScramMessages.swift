/// The four SCRAM messages of RFC 5802 §7, parsed strictly and formatted. Kafka's ScramMessages
/// accepts the same shapes: a gs2 header of `n,` with an optional `a=` authorization id (no
/// channel binding), comma-separated attributes, and extensions after the nonce.
enum ScramMessages {
    struct ClientFirst: Equatable {
        var authorizationId: String
        var user: String
        var nonce: String
        var extensions: [String: String]
        /// `n=...,r=...[,ext]`: the part that goes into the AuthMessage.
        var bare: String
        /// `n,[a=...],`: echoed base64-encoded in the final message's `c=`.
        var gs2Header: String
    }

    struct ServerFirst: Equatable {
        var nonce: String
        var salt: [UInt8]
        var iterations: Int
        var text: String
    }

    struct ClientFinal: Equatable {
        var channelBinding: [UInt8]
        var nonce: String
        var proof: [UInt8]
        /// Everything before `,p=`: the AuthMessage's last part.
        var withoutProof: String
    }

    enum ServerFinal: Equatable {
        case verifier([UInt8])
        case error(String)
    }

    static func parseClientFirst(_ bytes: [UInt8]) -> ClientFirst? {
        guard let text = String(validating: bytes, as: UTF8.self), text.hasPrefix("n,") else { return nil }
        let afterFlag = text.dropFirst(2)
        guard let comma = afterFlag.firstIndex(of: ",") else { return nil }
        let authzField = afterFlag[..<comma]
        var authorizationId = ""
        if !authzField.isEmpty {
            guard authzField.hasPrefix("a="), let name = decodeSaslName(authzField.dropFirst(2)) else { return nil }
            authorizationId = name
        }
        let bare = afterFlag[afterFlag.index(after: comma)...]
        let fields = bare.split(separator: ",", omittingEmptySubsequences: false)
        guard fields.count >= 2, fields[0].hasPrefix("n="), fields[1].hasPrefix("r="),
              let user = decodeSaslName(fields[0].dropFirst(2)), !user.isEmpty else { return nil }
        let nonce = fields[1].dropFirst(2)
        guard isPrintable(nonce) else { return nil }
        guard let extensions = parseExtensions(fields.dropFirst(2)) else { return nil }
        return ClientFirst(authorizationId: authorizationId, user: user, nonce: String(nonce), extensions: extensions,
                           bare: String(bare), gs2Header: String(text[..<afterFlag.index(after: comma)]))
    }

    static func formatClientFirst(user: String, nonce: String) -> String {
        "n,,n=\(encodeSaslName(user)),r=\(nonce)"
    }

    static func parseServerFirst(_ bytes: [UInt8]) -> ServerFirst? {
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        let fields = text.split(separator: ",", omittingEmptySubsequences: false)
        guard fields.count >= 3, fields[0].hasPrefix("r="), fields[1].hasPrefix("s="), fields[2].hasPrefix("i="),
              isPrintable(fields[0].dropFirst(2)),
              let salt = Base64.decode(fields[1].dropFirst(2)), !salt.isEmpty,
              let iterations = Int(fields[2].dropFirst(2)), iterations > 0,
              parseExtensions(fields.dropFirst(3)) != nil else { return nil }
        return ServerFirst(nonce: String(fields[0].dropFirst(2)), salt: salt, iterations: iterations, text: text)
    }

    static func formatServerFirst(nonce: String, salt: [UInt8], iterations: Int) -> String {
        "r=\(nonce),s=\(Base64.encode(salt)),i=\(iterations)"
    }

    static func parseClientFinal(_ bytes: [UInt8]) -> ClientFinal? {
        guard let text = String(validating: bytes, as: UTF8.self),
              let proofStart = text.ranges(of: ",p=").last else { return nil }
        let withoutProof = text[..<proofStart.lowerBound]
        let fields = withoutProof.split(separator: ",", omittingEmptySubsequences: false)
        guard fields.count >= 2, fields[0].hasPrefix("c="), fields[1].hasPrefix("r="),
              let binding = Base64.decode(fields[0].dropFirst(2)),
              isPrintable(fields[1].dropFirst(2)),
              parseExtensions(fields.dropFirst(2)) != nil,
              let proof = Base64.decode(text[proofStart.upperBound...]), !proof.isEmpty else { return nil }
        return ClientFinal(channelBinding: binding, nonce: String(fields[1].dropFirst(2)), proof: proof,
                           withoutProof: String(withoutProof))
    }

    static func parseServerFinal(_ bytes: [UInt8]) -> ServerFinal? {
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        let first = text.split(separator: ",", omittingEmptySubsequences: false)[0]
        if first.hasPrefix("e=") { return .error(String(first.dropFirst(2))) }
        if first.hasPrefix("v="), let signature = Base64.decode(first.dropFirst(2)) { return .verifier(signature) }
        return nil
    }

    /// RFC 5802's saslname: '=' only as =2C (',') or =3D ('=').
    static func decodeSaslName(_ text: Substring) -> String? {
        var out = ""
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if character == "=" {
                let code = text[text.index(after: index)...].prefix(2)
                switch code {
                case "2C": out.append(",")
                case "3D": out.append("=")
                default: return nil
                }
                index = text.index(index, offsetBy: 3)
            } else if character == "," {
                return nil
            } else {
                out.append(character)
                index = text.index(after: index)
            }
        }
        return out
    }

    static func encodeSaslName(_ name: String) -> String {
        var out = ""
        for character in name {
            switch character {
            case "=": out += "=3D"
            case ",": out += "=2C"
            default: out.append(character)
            }
        }
        return out
    }

    /// Printable ASCII but ','.
    private static func isPrintable(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { (0x21...0x7E).contains($0) && $0 != UInt8(ascii: ",") }
    }

    private static func parseExtensions(_ fields: ArraySlice<Substring>) -> [String: String]? {
        var extensions: [String: String] = [:]
        for field in fields {
            guard let equals = field.firstIndex(of: "="), equals != field.startIndex,
                  field[..<equals].allSatisfy({ $0.isASCII && $0.isLetter }) else { return nil }
            extensions[String(field[..<equals])] = String(field[field.index(after: equals)...])
        }
        return extensions
    }
}
