//! The machine's interrupt lines as devices see them. A device raises its
//! line; how that reaches the guest is the hypervisor's business (on KVM an
//! irqfd, see `hypervisor::kvm`).

/// One interrupt line of the machine.
pub trait InterruptLine: Send + Sync {
    /// Raises the line (edge-triggered: one interrupt).
    fn raise(&self) -> std::io::Result<()>;
}
