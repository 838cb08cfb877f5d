import DroverCore

extension InstanceInfo {
    /// What the instance is doing, as the agent's decisions see it: code asks this instead of
    /// comparing `activeState` strings.
    public var state: InstanceState { InstanceState(activeState: activeState, hasJob: false) }
}
