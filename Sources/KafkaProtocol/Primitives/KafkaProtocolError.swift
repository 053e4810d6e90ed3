/// Why bytes could not be read as, or a value could not be written as, Kafka protocol data.
///
/// Decoders throw these instead of trapping: every length and count is checked against the
/// bytes that remain before anything is allocated.
public enum KafkaProtocolError: Error, Hashable, Sendable {
    /// The input ended early: `needed` more bytes were required, `available` remained.
    case truncated(needed: Int, available: Int)
    /// A length prefix was negative (other than the null marker) or otherwise impossible.
    case invalidLength(Int)
    /// An array claims more elements than the remaining bytes could hold.
    case arrayTooLong(count: Int, remainingBytes: Int)
    /// An unsigned or zigzag varint ran past its maximum width.
    case malformedVarint
    /// A string field did not hold valid UTF-8.
    case invalidUTF8
    /// A null arrived where this version does not allow one.
    case unexpectedNull(field: String)
    /// A value that this version cannot carry (a non-ignorable field, or a null) was asked to be written.
    case fieldNotSupported(field: String, version: Int16)
    /// A value is too large for its wire encoding (for example a string over 32767 bytes).
    case valueTooLarge(field: String)
    /// No API with this key is known.
    case unknownApiKey(Int16)
    /// The API is known but not at this version.
    case unsupportedVersion(apiKey: Int16, version: Int16)
    /// A frame's size prefix exceeds the configured maximum.
    case frameTooLarge(size: Int, maximum: Int)
}
