import DroverCore
import DroverSystemd

// systemd's state strings become an `InstanceState` once, here: decisions switch over it.

extension UnitStatus {
    var state: InstanceState { InstanceState(activeState: activeState, hasJob: jobID != 0) }
}

extension UnitListEntry {
    var state: InstanceState { InstanceState(activeState: activeState, hasJob: jobID != 0) }
}
