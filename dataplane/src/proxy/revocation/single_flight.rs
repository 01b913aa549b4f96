//! One request at a time per key: every caller asking for the same key while a request is
//! under way awaits that request's answer, so 50 concurrent handshakes with a cold cache make
//! one request to a responder.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// Requests under way, by key.
pub(crate) struct SingleFlight<K, V> {
    flights: Mutex<HashMap<K, Arc<OnceCell<V>>>>,
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        Self {
            flights: Mutex::default(),
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> SingleFlight<K, V> {
    /// The answer of `ask` for `key`: this caller's own request, or the one already under way.
    pub(crate) async fn run<F>(&self, key: &K, ask: impl FnOnce() -> F) -> V
    where
        F: Future<Output = V>,
    {
        let cell = self
            .flights
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        let value = cell.get_or_init(ask).await.clone();
        // The first caller back removes the finished flight; a later flight for the key is
        // another cell and stays.
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if flights.get(key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            flights.remove(key);
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_callers_share_one_request() {
        let flights: SingleFlight<&str, u32> = SingleFlight::default();
        let asked = AtomicUsize::new(0);
        let ask = || async {
            asked.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            7
        };
        let answers = futures_join(&flights, ask).await;
        assert_eq!(answers, [7; 8]);
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        // Finished: the next call asks again.
        assert_eq!(flights.run(&"k", ask).await, 7);
        assert_eq!(asked.load(Ordering::SeqCst), 2);
    }

    async fn futures_join<F, Fut>(flights: &SingleFlight<&'static str, u32>, ask: F) -> [u32; 8]
    where
        F: Fn() -> Fut + Copy,
        Fut: Future<Output = u32>,
    {
        let calls: [_; 8] = std::array::from_fn(|_| Box::pin(flights.run(&"k", ask)));
        let mut out = [0; 8];
        let mut pending: Vec<_> = calls.into_iter().enumerate().collect();
        // Poll all of them together until each has its answer (bounded by the sleep above).
        std::future::poll_fn(|cx| {
            pending.retain_mut(|(i, f)| match f.as_mut().poll(cx) {
                std::task::Poll::Ready(v) => {
                    out[*i] = v;
                    false
                }
                std::task::Poll::Pending => true,
            });
            if pending.is_empty() {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
        out
    }
}
