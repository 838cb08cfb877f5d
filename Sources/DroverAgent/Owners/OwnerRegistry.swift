import DroverCore

/// Every service's owner, made on first use. `Agent` is a registry of owners: it finds the
/// owner and lets it serialize the change.
actor OwnerRegistry {
    private var owners: [ServiceName: ServiceOwner] = [:]
    private let make: @Sendable (ServiceName) -> ServiceOwner

    init(make: @escaping @Sendable (ServiceName) -> ServiceOwner) {
        self.make = make
    }

    /// The service's owner, and whether it was made just now (then its caller starts it).
    func owner(of service: ServiceName) -> (owner: ServiceOwner, isNew: Bool) {
        if let owner = owners[service] { return (owner, false) }
        let owner = make(service)
        owners[service] = owner
        return (owner, true)
    }

    /// The owner, if the service has one already (signals of unknown units make none).
    func existingOwner(of service: ServiceName) -> ServiceOwner? { owners[service] }

    /// Forgets a deleted service's owner (a service created again gets a new one).
    func remove(_ owner: ServiceOwner) {
        if owners[owner.name] === owner { owners[owner.name] = nil }
    }

    func all() -> [ServiceOwner] { Array(owners.values) }
}
