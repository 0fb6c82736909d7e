// Controller: the mutating admission webhook, image rewriting rules, the pull-secret
// mirror, a small Kubernetes API client and certificates. Built by the controller issue
// on OCI's ImageReference (parsing and `withDomain`).
import OCI
