//! A pool of MLLP connections: a sequential run reuses one connection for every message; a load
//! run gets one connection per concurrent iteration, each reused, instead of queueing on one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::client::{MllpClient, MllpConfig, MllpError};

pub struct MllpPool {
    config: MllpConfig,
    idle: Mutex<Vec<MllpClient>>,
    messages: AtomicU64,
    connections: AtomicU64,
    reconnects: AtomicU64,
}

impl MllpPool {
    /// Builds the first client at once, so a bad TLS setting is an error before the run starts.
    pub fn new(config: MllpConfig) -> Result<Self, MllpError> {
        let first = MllpClient::new(config.clone())?;
        Ok(MllpPool {
            config,
            idle: Mutex::new(vec![first]),
            messages: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
        })
    }

    pub fn addr(&self) -> &str {
        &self.config.addr
    }

    pub fn checkout(&self) -> Result<MllpClient, MllpError> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match pooled {
            Some(c) => Ok(c),
            None => MllpClient::new(self.config.clone()),
        }
    }

    /// Counts one message sent by `client`: the connections it opened for it, and whether one
    /// replaced a connection the peer had closed.
    pub fn record(&self, client: &MllpClient) {
        self.messages.fetch_add(1, Ordering::Relaxed);
        self.connections
            .fetch_add(client.last_opened, Ordering::Relaxed);
        if client.last_reconnected {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// (messages sent, connections opened, reconnects) so far.
    pub fn stats(&self) -> (u64, u64, u64) {
        (
            self.messages.load(Ordering::Relaxed),
            self.connections.load(Ordering::Relaxed),
            self.reconnects.load(Ordering::Relaxed),
        )
    }

    /// Returns a client for reuse (its connection, if still open, goes with it).
    pub fn checkin(&self, client: MllpClient) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(client);
    }
}
