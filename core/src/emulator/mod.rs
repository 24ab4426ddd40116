//! What every provider emulator shares (feature `emulator`): a server on `127.0.0.1` at a free
//! port that stops when dropped ([`Listener`], [`Server`]), the per-connection handle a handler
//! uses to lose its answer ([`Connection`]), and the `Retry-After` header of a rate-limited
//! answer ([`set_retry_after`]).
//!
//! The provider's own parts (its endpoints, request checks, error bodies and the faults a test
//! can stage) stay in the adapter crate's `emulator` module, which is built on these:
//!
//! ```
//! //! A one-route emulator whose answer can be lost. Run with:
//! //! cargo test -p switchboard-core --features emulator --doc
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use axum::extract::ConnectInfo;
//! use axum::routing::post;
//! use switchboard_core::emulator::{Connection, Listener};
//!
//! let listener = Listener::bind().await?;
//! let url = format!("{}/lose", listener.url());
//! let router = axum::Router::new().route(
//!     "/lose",
//!     post(|ConnectInfo(conn): ConnectInfo<Connection>| async move {
//!         conn.lose_answer(); // the call took effect; the client never hears so
//!         "never written"
//!     }),
//! );
//! let server = listener.serve(router);
//! # let stream = tokio::net::TcpStream::connect(server.addr()).await?;
//! # drop(stream);
//! assert!(url.starts_with("http://127.0.0.1:"));
//! drop(server); // stops accepting; open connections finish
//! # Ok(())
//! # }
//! ```

mod listener;
mod server;

pub use listener::Connection;
pub use server::{Listener, Server, set_retry_after};
