/// The agent's version (`dewpoint version`, the status record, checkpoints: a checkpoint written
/// by another version is not restored).
public enum DewpointVersion {
    public static let string = "0.1.0"
}
