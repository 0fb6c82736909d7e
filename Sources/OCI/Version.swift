/// The PeerPull release this build belongs to.
public enum PeerPullVersion {
    public static let current = "0.1.0"
}
