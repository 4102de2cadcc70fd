//! The `Background` port on the tokio runtime.

use std::future::Future;
use std::pin::Pin;

use keyward_core::ports::Background;

#[derive(Debug, Default, Clone, Copy)]
pub struct TokioBackground;

impl Background for TokioBackground {
    fn spawn(&self, work: Pin<Box<dyn Future<Output = ()> + Send + 'static>>) {
        tokio::spawn(work);
    }

    fn sleep(&self, d: std::time::Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(tokio::time::sleep(d))
    }
}
