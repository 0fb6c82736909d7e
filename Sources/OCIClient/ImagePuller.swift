import Logging
import NIOCore
import OCI

/// Downloads one image (one platform of an index) into an OCI image layout,
/// verifying every digest and size.
public struct ImagePuller: Sendable {
    public var client: RegistryClient
    public var layout: OCILayout
    public var platform: Platform
    public var authorization: RegistryAuthorization
    /// Blobs downloaded at once; containerd's default is 3.
    public var maxConcurrentBlobs: Int = 3
    public var observer: any PullObserver
    var logger: Logger

    public init(client: RegistryClient, layout: OCILayout, platform: Platform = .host, authorization: RegistryAuthorization = .anonymous,
                observer: any PullObserver = NoPullObserver(), logger: Logger = Logger(label: "peerpull.pull")) {
        self.client = client
        self.layout = layout
        self.platform = platform
        self.authorization = authorization
        self.observer = observer
        self.logger = logger
    }

    public func pull(_ reference: ImageReference) async throws(PullError) -> PullResult {
        let repository = Repository(reference)
        let top: ManifestResponse
        do { top = try await client.manifest(repository, reference: reference.manifestReference, authorization: authorization) } catch {
            throw .registry(error)
        }
        var manifestResponse = top
        var chosenPlatform: Platform?
        var document: ManifestDocument
        do { document = try top.document() } catch { throw .manifest(error) }

        if case .index(let index) = document {
            guard let descriptor = index.manifest(for: platform) else {
                throw .manifest(.noMatchingPlatform(platform, available: index.manifests.compactMap { $0.platform?.description }))
            }
            chosenPlatform = descriptor.platform
            do {
                manifestResponse = try await client.manifest(repository, reference: descriptor.digest.description, authorization: authorization)
                document = try manifestResponse.document()
            } catch let error as RegistryError {
                throw .registry(error)
            } catch let error as ManifestError {
                throw .manifest(error)
            } catch {
                throw .manifest(.malformed("\(error)"))
            }
        }
        guard case .image(let manifest) = document, let manifestDigest = manifestResponse.digest else {
            throw .manifest(.malformed("an index must point at image manifests, not at another index"))
        }
        observer.pull(.resolved(reference: reference, manifest: manifestDigest, platform: chosenPlatform, blobs: manifest.blobs))

        let (downloaded, present) = try await fetchBlobs(manifest.blobs, repository: repository)

        // The manifest goes in after all its blobs, and the index last: a failed pull
        // leaves nothing that names missing content.
        let mediaType = manifest.mediaType ?? (manifestResponse.contentType.isEmpty ? MediaType.ociManifest : MediaType.essence(manifestResponse.contentType))
        do {
            try layout.writeBlob(manifestResponse.bytes, digest: manifestDigest)
            var annotations = [OCILayout.containerdNameAnnotation: reference.description]
            annotations[OCILayout.refNameAnnotation] = reference.tag ?? manifestDigest.description
            var descriptor = Descriptor(mediaType: mediaType, digest: manifestDigest, size: Int64(manifestResponse.bytes.count), annotations: annotations)
            descriptor.platform = chosenPlatform
            try layout.addToIndex(descriptor)
        } catch {
            throw .layout(error)
        }
        let result = PullResult(
            reference: reference, manifestDigest: manifestDigest, manifestMediaType: mediaType, platform: chosenPlatform,
            blobCount: manifest.blobs.count, bytesDownloaded: downloaded, bytesAlreadyPresent: present)
        observer.pull(.finished(result))
        return result
    }

    private func fetchBlobs(_ blobs: [Descriptor], repository: Repository) async throws(PullError) -> (Int64, Int64) {
        var unique: [Descriptor] = []
        for b in blobs where !unique.contains(where: { $0.digest == b.digest }) { unique.append(b) }
        do {
            return try await withThrowingTaskGroup(of: (Int64, Int64).self) { group in
                var downloaded: Int64 = 0
                var present: Int64 = 0
                var next = 0
                func add() {
                    let d = unique[next]
                    next += 1
                    group.addTask { try await self.fetchBlob(d, repository: repository) }
                }
                while next < unique.count && next < maxConcurrentBlobs { add() }
                while let (got, had) = try await group.next() {
                    downloaded += got
                    present += had
                    if next < unique.count { add() }
                }
                return (downloaded, present)
            }
        } catch let error as PullError {
            throw error
        } catch {
            throw .registry(.transport(registry: repository.domain, detail: "\(error)"))
        }
    }

    /// Downloads one blob, resuming with `Range` after a broken transfer, and
    /// returns (bytes downloaded, bytes already present).
    private func fetchBlob(_ descriptor: Descriptor, repository: Repository) async throws(PullError) -> (Int64, Int64) {
        if layout.hasBlob(descriptor) {
            observer.pull(.blobCompleted(descriptor, alreadyPresent: true))
            return (0, descriptor.size)
        }
        observer.pull(.blobStarted(descriptor))
        let ingest: BlobIngest
        do { ingest = try layout.beginIngest(descriptor.digest) } catch { throw .layout(error) }
        defer { ingest.discard() }  // no-op after a commit: the file has been renamed away

        var attempt = 1
        var received: Int64 = 0
        while true {
            do {
                let range: ByteRange? = ingest.written > 0 ? .from(first: ingest.written) : nil
                let response = try await client.blob(repository, digest: descriptor.digest, range: range, authorization: authorization)
                if range != nil && response.status != 206 { try ingest.restart() }
                for try await buffer in response.body {
                    try ingest.write(buffer)
                    received += Int64(buffer.readableBytes)
                    // A registry that sends more than the manifest promised is wrong; stop
                    // before it can fill the disk.
                    guard ingest.written <= descriptor.size else {
                        throw PullError.registry(.invalidResponse(registry: repository.domain, detail: "blob \(descriptor.digest) is longer than its descriptor's \(descriptor.size) bytes"))
                    }
                    observer.pull(.blobProgress(descriptor.digest, written: ingest.written))
                }
                guard ingest.written == descriptor.size else {
                    throw PullError.registry(.invalidResponse(registry: repository.domain, detail: "blob \(descriptor.digest) ended after \(ingest.written) of \(descriptor.size) bytes"))
                }
                do { try ingest.commit() } catch {
                    switch error {
                    case .digestMismatch(let m): throw PullError.registry(.digestMismatch(registry: repository.domain, repository: repository.path, m))
                    case .layout(let e): throw PullError.layout(e)
                    }
                }
                observer.pull(.blobCompleted(descriptor, alreadyPresent: false))
                return (received, 0)
            } catch let error {
                let retryable: Bool
                switch error {
                case let e as RegistryError: if case .transport = e { retryable = true } else { retryable = false }
                case is PullError, is LayoutError: retryable = false
                default: retryable = !(error is CancellationError)  // a broken body stream
                }
                guard retryable, attempt < client.configuration.retry.maxAttempts else {
                    switch error {
                    case let e as PullError: throw e
                    case let e as RegistryError: throw .registry(e)
                    case let e as LayoutError: throw .layout(e)
                    default: throw .registry(.transport(registry: repository.domain, detail: "blob \(descriptor.digest): \(error)"))
                    }
                }
                observer.pull(.blobRetrying(descriptor.digest, attempt: attempt, reason: "\(error)"))
                try? await client.sleep(client.configuration.retry.delay(afterAttempt: attempt))
                attempt += 1
            }
        }
    }
}
