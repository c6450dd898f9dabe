//! Container events for whoever subscribed (the host's machine monitor
//! releases a run's published ports when that run dies).

use protocol::ContainerEvent;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;

#[derive(Default)]
pub struct Events {
    subscribers: Mutex<Vec<Sender<ContainerEvent>>>,
}

impl Events {
    /// Every event from now on, until the receiver is dropped.
    pub fn subscribe(&self) -> Receiver<ContainerEvent> {
        let (tx, rx) = channel();
        self.lock().push(tx);
        rx
    }

    pub fn publish(&self, event: ContainerEvent) {
        // Gone subscribers are dropped on the way.
        self.lock().retain(|s| s.send(event.clone()).is_ok());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Sender<ContainerEvent>>> {
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ContainerAction;

    #[test]
    fn subscribers_get_later_events_and_gone_ones_are_dropped() {
        let events = Events::default();
        let event = |c: &str| ContainerEvent {
            container: c.into(),
            action: ContainerAction::Die,
            lease: Some(1),
            exit_code: None,
        };
        events.publish(event("before"));
        let rx = events.subscribe();
        let gone = events.subscribe();
        drop(gone);
        events.publish(event("after"));
        assert_eq!(rx.try_recv().unwrap(), event("after"));
        assert!(rx.try_recv().is_err());
        assert_eq!(events.lock().len(), 1);
    }
}
