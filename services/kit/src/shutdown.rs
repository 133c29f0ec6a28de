//! Graceful shutdown: the process-level signal (SIGTERM or Ctrl-C) and a cloneable stop signal
//! that fans out to every task of a service.

use tokio::sync::watch;

/// Completes on SIGTERM or Ctrl-C.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// Fires once; every clone observes it.
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<bool>);

/// The sending half of [`Stop`].
#[derive(Debug)]
pub struct StopHandle(watch::Sender<bool>);

/// A new stop signal and its trigger.
pub fn channel() -> (StopHandle, Stop) {
    let (tx, rx) = watch::channel(false);
    (StopHandle(tx), Stop(rx))
}

impl StopHandle {
    /// Fires the signal.
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

impl Stop {
    /// Completes once the signal has fired (immediately if it already has, or if the handle is
    /// gone).
    pub async fn wait(&self) {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|stopped| *stopped).await;
    }

    /// True once the signal has fired.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }
}

/// [`signal`] as a named future type, for APIs that take one.
pub struct Signal(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>);

impl Signal {
    /// Completes on SIGTERM or Ctrl-C.
    pub fn new() -> Self {
        Signal(Box::pin(signal()))
    }
}

impl Default for Signal {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signal")
    }
}

impl Future for Signal {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        self.0.as_mut().poll(cx)
    }
}
