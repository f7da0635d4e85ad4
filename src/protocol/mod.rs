//! The parties of the protocol as stateright actors (docs/design.md §2), one file each.
//!
//! Every party is one [`Party`] (stateright wants one actor type per model):
//! its [`Role`] says which handler runs, and its state is one variant of
//! [`PartyState`]. Actor ids are fixed: the five servers first, then the
//! devices in scenario order ([`actor_id`]). Handlers record intent only:
//! they return a new state (or `None` when nothing changes) and push sends
//! into stateright's `Out`; none does I/O.

pub mod authority;
pub mod carrier;
pub mod device;
pub mod directory;
pub mod lookup_log;
pub mod relay;
pub mod wire;

use crate::knowledge::{DeviceId, Token};
use crate::scenario::{RecordKind, Scenario};
use stateright::actor::{Actor, Id, Out};
use std::borrow::Cow;
use std::sync::Arc;
use wire::{Msg, Timer};

pub use authority::AuthorityState;
pub use carrier::CarrierState;
pub use device::DeviceState;
pub use directory::DirectoryState;
pub use lookup_log::{LogState, LogStorage};
pub use relay::{Connections, RelayState};
pub use wire::HashedIfUsed;

/// Which party an actor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Directory,
    LookupLog,
    Relay,
    Carrier,
    Authority,
    Device(DeviceId),
}

/// Number of server-side actors, which come before the devices.
pub const SERVERS: usize = 5;

/// The stateright actor id of a role.
pub fn actor_id(role: Role) -> Id {
    Id::from(match role {
        Role::Directory => 0,
        Role::LookupLog => 1,
        Role::Relay => 2,
        Role::Carrier => 3,
        Role::Authority => 4,
        Role::Device(d) => SERVERS + d.0 as usize,
    })
}

/// The role of a stateright actor id.
pub fn role_of(id: Id) -> Role {
    match usize::from(id) {
        0 => Role::Directory,
        1 => Role::LookupLog,
        2 => Role::Relay,
        3 => Role::Carrier,
        4 => Role::Authority,
        n => Role::Device(DeviceId((n - SERVERS) as u8)),
    }
}

/// The actor a push token routes to: a device, or for the ghost token the directory operator.
pub fn token_holder(token: Token) -> Id {
    match token {
        Token::Device(d) => actor_id(Role::Device(d)),
        Token::Ghost => actor_id(Role::Directory),
    }
}

impl Role {
    /// A readable name: `directory`, `device A/1`, …
    pub fn name(self, scenario: &Scenario) -> String {
        match self {
            Role::Directory => "directory".into(),
            Role::LookupLog => "lookup log".into(),
            Role::Relay => "relay".into(),
            Role::Carrier => "carrier".into(),
            Role::Authority => "authority".into(),
            Role::Device(d) => format!("device {}", scenario.device_name(d)),
        }
    }
}

/// One actor of the model.
#[derive(Clone, Debug)]
pub struct Party {
    pub role: Role,
    pub scenario: Arc<Scenario>,
}

/// The state of one actor. A device's is the largest; each party state is held once, behind
/// the `Arc` of the state vector (and interned in the store), so boxing it would only add an
/// indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum PartyState {
    Directory(DirectoryState),
    LookupLog(LogState),
    Relay(RelayState),
    Carrier(CarrierState),
    Authority(AuthorityState),
    Device(DeviceState),
}

/// Runs a handler that returns `Some(new state)` when it changes the state, keeping
/// the state borrowed otherwise so that stateright can recognise a no-op.
fn update<S: Clone>(
    state: &mut Cow<PartyState>,
    project: fn(&PartyState) -> &S,
    wrap: fn(S) -> PartyState,
    handler: impl FnOnce(&S) -> Option<S>,
) {
    if let Some(next) = handler(project(state)) {
        *state = Cow::Owned(wrap(next));
    }
}

macro_rules! projections {
    ($($fn:ident: $variant:ident => $ty:ty),* $(,)?) => {$(
        /// The state of this party; the actor layout is fixed, so the variant always matches.
        pub fn $fn(s: &PartyState) -> &$ty {
            match s {
                PartyState::$variant(x) => x,
                other => unreachable!(concat!("expected ", stringify!($variant), ", found {:?}"), other),
            }
        }
    )*};
}

projections! {
    as_directory: Directory => DirectoryState,
    as_log: LookupLog => LogState,
    as_relay: Relay => RelayState,
    as_carrier: Carrier => CarrierState,
    as_authority: Authority => AuthorityState,
    as_device: Device => DeviceState,
}

impl Actor for Party {
    type Msg = Msg;
    type State = PartyState;
    type Timer = Timer;
    type Random = ();
    type Storage = LogStorage;

    fn on_start(&self, _id: Id, storage: &Option<LogStorage>, o: &mut Out<Self>) -> PartyState {
        let s = &self.scenario;
        match self.role {
            Role::Directory => PartyState::Directory(DirectoryState::start(s, o)),
            Role::LookupLog => PartyState::LookupLog(LogState::start(s, storage, o)),
            Role::Relay => PartyState::Relay(RelayState::default()),
            Role::Carrier => PartyState::Carrier(CarrierState::default()),
            Role::Authority => PartyState::Authority(AuthorityState::start(s, o)),
            Role::Device(d) => PartyState::Device(DeviceState::start(s, d, o)),
        }
    }

    fn on_msg(&self, _id: Id, state: &mut Cow<PartyState>, src: Id, msg: Msg, o: &mut Out<Self>) {
        let s = &self.scenario;
        match self.role {
            Role::Directory => update(state, as_directory, PartyState::Directory, |st| {
                st.on_msg(s, src, msg, o)
            }),
            Role::LookupLog => update(state, as_log, PartyState::LookupLog, |st| {
                st.on_msg(s, src, msg, o)
            }),
            Role::Relay => update(state, as_relay, PartyState::Relay, |st| {
                st.on_msg(s, src, msg, o)
            }),
            Role::Carrier => update(state, as_carrier, PartyState::Carrier, |st| st.on_msg(msg)),
            Role::Authority => update(state, as_authority, PartyState::Authority, |st| {
                st.on_msg(s, msg)
            }),
            Role::Device(d) => update(state, as_device, PartyState::Device, |st| {
                st.on_msg(s, d, msg, o)
            }),
        }
    }

    fn on_timeout(&self, _id: Id, state: &mut Cow<PartyState>, timer: &Timer, o: &mut Out<Self>) {
        let s = &self.scenario;
        match (self.role, *timer) {
            (Role::Device(d), Timer::UserAction(n)) => {
                update(state, as_device, PartyState::Device, |st| {
                    st.on_user_action(s, d, n, o)
                })
            }
            (Role::LookupLog, Timer::Persist) => {
                update(state, as_log, PartyState::LookupLog, |st| st.on_persist(o))
            }
            (Role::Directory, Timer::Forge { victim, target }) => {
                update(state, as_directory, PartyState::Directory, |st| {
                    st.on_forge(s, victim, target, o)
                })
            }
            (Role::Authority, Timer::LegalRequest(n)) => {
                let order = s.legal_requests[n as usize];
                // A process the rules do not allow for these records is refused: nothing is
                // disclosed.
                if !s.legal_rules.allows(order.process, order.records) {
                    return;
                }
                match order.records {
                    RecordKind::LookupLog if order.prospective.is_some() => o.send(
                        actor_id(Role::Directory),
                        Msg::ProspectiveOrder {
                            handle: order.handle,
                            days: order.prospective.unwrap_or(1),
                        },
                    ),
                    RecordKind::LookupLog => o.send(
                        actor_id(Role::LookupLog),
                        Msg::LegalRequest {
                            handle: order.handle,
                        },
                    ),
                    RecordKind::PushToken(d) => o.send(
                        actor_id(Role::Relay),
                        Msg::TokenRequest {
                            token: Token::Device(d),
                        },
                    ),
                    RecordKind::PushConnections(device) => {
                        o.send(actor_id(Role::Relay), Msg::ConnectionRequest { device })
                    }
                    RecordKind::Subscriber => o.send(
                        actor_id(Role::Directory),
                        Msg::SubscriberRequest {
                            handle: order.handle,
                        },
                    ),
                }
            }
            // Each party sets only its own kind of timer.
            _ => {}
        }
    }
}
