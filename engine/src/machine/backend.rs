//! Which backend runs a machine, and with what acceleration: our own VMM
//! where the hypervisor can boot a real guest kernel (the probe says so),
//! else QEMU, with KVM when it works and software emulation when not.

use super::error::MachineError;
use super::qemu;
use crate::events::Event;
use crate::Engine;
use serde::{Deserialize, Serialize};
use vmm::hypervisor::Accel;
use vmm::probe::{probe, Verdict};

/// Which machine backend runs the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Our own VMM on the host's hypervisor.
    Native,
    /// QEMU, with our device cores over vhost-user; KVM or TCG.
    Qemu,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Native => "native",
            Backend::Qemu => "qemu",
        }
    }
}

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    /// native where the hypervisor can run a guest kernel, else qemu
    Auto,
    Native,
    Qemu,
}

impl std::str::FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<BackendChoice, String> {
        match s {
            "auto" => Ok(BackendChoice::Auto),
            "native" => Ok(BackendChoice::Native),
            "qemu" => Ok(BackendChoice::Qemu),
            _ => Err(format!("unknown backend {s:?}: auto, native or qemu")),
        }
    }
}

/// The backend to use, its acceleration, and why.
#[derive(Debug, Clone)]
pub struct Choice {
    pub backend: Backend,
    pub accel: Accel,
    pub why: String,
}

impl Engine {
    pub(super) fn choose_backend(&self, choice: BackendChoice) -> Result<Choice, MachineError> {
        let verdict = probe();
        let backend = match (choice, &verdict) {
            (BackendChoice::Qemu, _) => Backend::Qemu,
            (BackendChoice::Native, _) => Backend::Native,
            (BackendChoice::Auto, Verdict::Usable) => Backend::Native,
            (BackendChoice::Auto, Verdict::Unusable(_)) => Backend::Qemu,
        };
        if backend == Backend::Qemu {
            qemu::find_qemu()?;
        }
        let (accel, why) = match verdict {
            Verdict::Usable => (
                Accel::native(),
                "a KVM probe guest took an exception through its own IDT".to_string(),
            ),
            Verdict::Unusable(why) if backend == Backend::Native => {
                self.report(Event::BackendNotice {
                    message: format!(
                        "warning: {why}; the native backend was asked for, so it is tried anyway"
                    ),
                });
                (Accel::native(), why)
            }
            Verdict::Unusable(why) => {
                self.report(Event::BackendNotice {
                    message: format!("{why}; using the qemu backend with software emulation (TCG)"),
                });
                (Accel::Tcg, why)
            }
        };
        Ok(Choice {
            backend,
            accel,
            why,
        })
    }
}
