//! One upgraded connection's task: the close that answers a refused resume, or the
//! held connection's life until one side ends it.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};

use super::table::{Cause, Ending, Slot, Upgrade};
use super::{Admission, HEARTBEAT, HEARTBEAT_ACK, READY};
use crate::overlay::conn::ConnClock;
use crate::overlay::server::Shared;

/// How long a closing connection may take to answer the close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

pub const SESSION_LOST: (u16, &str) = (4004, "session lost: log in again");

/// Who ended a held connection.
enum End {
    /// The server's side, for this cause: the table has counted it.
    Server(Cause),
    /// The client: `ClientClosed` or `ClientReset`.
    Client(Cause),
}

pub(super) async fn run(mut ws: WebSocket, s: Arc<Shared>, client: u64, admission: Admission, conn: Arc<ConnClock>) {
    conn.hold_open();
    let table = &s.gateway.table;
    match admission {
        Admission::Held => {}
        Admission::SessionLost => {
            table.count_upgrade(Upgrade::SessionLost);
            return close(ws, SESSION_LOST.0, SESSION_LOST.1).await;
        }
        Admission::Overloaded(_) => {
            table.count_upgrade(Upgrade::Overloaded);
            let reason = format!("retry after {}", s.gateway.retry_after);
            return close(ws, 1013, &reason).await;
        }
    }
    let Some(slot) = table.hold(client, s.token_now()) else {
        return abrupt(ws, &conn); // the overlay is stopping
    };
    // The supernode may have gone between the admission and the hold, when the drop of
    // its members' connections could not see this one.
    if s.model().session_of(client).is_none() {
        if table.release(client, &slot, None) {
            table.count_upgrade(Upgrade::SessionLost);
            return close(ws, SESSION_LOST.0, SESSION_LOST.1).await;
        }
        return abrupt(ws, &conn);
    }
    table.count_upgrade(Upgrade::Ok);
    // The connection is usable from here (admitted, held): said in its first message, as
    // real gateways send READY after a resume. A client that counts itself connected
    // only then (`connect.ready`) never counts a 1013 or 4004 close as a connection.
    let _ = ws.send(Message::text(READY)).await;
    let end = hold(&mut ws, &s, &slot).await;
    // Its session stays valid for a resume: the token was in use all along.
    s.touch_token(client);
    match end {
        End::Server(cause) => match cause.ending() {
            Ending::Abrupt => abrupt(ws, &conn),
            Ending::Close(code, reason) => close(ws, code, reason).await,
        },
        End::Client(cause) => {
            let counted = table.release(client, &slot, Some(cause));
            if cause == Cause::ClientClosed {
                // Sends tungstenite's answer to the client's close frame.
                drain(&mut ws).await;
            } else if counted {
                // Its machine went: a supernode it hosted goes with it (the 2007 trigger).
                let hosted = {
                    let mut m = s.model();
                    let hosts = m.hosts(client);
                    if hosts {
                        m.leave(client);
                    }
                    hosts
                };
                if hosted {
                    s.settle_gateway();
                }
            }
        }
    }
}

/// Answers heartbeats until one side ends the connection.
async fn hold(ws: &mut WebSocket, s: &Shared, slot: &Slot) -> End {
    let table = &s.gateway.table;
    loop {
        tokio::select! {
            biased;
            cause = slot.ended() => return End::Server(cause),
            msg = ws.recv() => {
                // A stream that ends or fails without a close frame: EOF or reset.
                let Some(Ok(msg)) = msg else {
                    return End::Client(Cause::ClientReset);
                };
                slot.touch(s.token_now());
                match msg {
                    Message::Text(t) if is_heartbeat(t.as_str()) => {
                        table.count_heartbeat();
                        if ws.send(Message::text(HEARTBEAT_ACK)).await.is_err() {
                            return End::Client(Cause::ClientReset);
                        }
                    }
                    Message::Text(_) | Message::Binary(_) => table.count_ignored(),
                    // tungstenite answers pings itself.
                    Message::Ping(_) | Message::Pong(_) => {}
                    Message::Close(_) => return End::Client(Cause::ClientClosed),
                }
            }
        }
    }
}

/// `{"op":"hb"}`, exactly or with other spacing.
fn is_heartbeat(text: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Op<'a> {
        op: &'a str,
    }
    text == HEARTBEAT || (text.len() < 64 && serde_json::from_str::<Op>(text).is_ok_and(|o| o.op == "hb"))
}

/// Sends a close frame, then waits (a little) for the client's answer.
async fn close(mut ws: WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        if ws.send(Message::Close(Some(frame))).await.is_ok() {
            drain(&mut ws).await;
        }
    })
    .await;
}

/// Reads until the stream ends (flushing what tungstenite queued, such as a close
/// frame's answer), for at most `CLOSE_WAIT`.
async fn drain(ws: &mut WebSocket) {
    let _ = tokio::time::timeout(CLOSE_WAIT, async { while let Some(Ok(_)) = ws.recv().await {} }).await;
}

/// Drops the connection with an RST: no close frame, no FIN.
fn abrupt(ws: WebSocket, conn: &ConnClock) {
    conn.reset_on_drop();
    drop(ws);
}

#[cfg(test)]
mod tests {
    use super::is_heartbeat;

    #[test]
    fn heartbeats_are_the_op_hb_object() {
        assert!(is_heartbeat(r#"{"op":"hb"}"#));
        assert!(is_heartbeat(r#"{ "op": "hb" }"#));
        assert!(is_heartbeat(r#"{"op":"hb","n":1}"#));
        assert!(!is_heartbeat(r#"{"op":"hello"}"#));
        assert!(!is_heartbeat("hb"));
        assert!(!is_heartbeat(""));
    }
}
