// The controller speaks the Kubernetes client's types (Pod, Secret, ObjectMeta) in its
// public API; importing Controller brings them along.
@_exported import Kubernetes
