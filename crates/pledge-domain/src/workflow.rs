//! The rights-request workflow: the states a request goes through, the transitions allowed
//! between them, the legal deadlines per regime, and the W3C DPV terms for each state.
//!
//! Pure like the rest of the core: the time of receipt and "now" are parameters. The store
//! records what this module allows; the server and the workers ask it before every change.

use pledge_lang::rights::{Right, UnknownName};
use pledge_lang::time::CivilTime;
use pledge_lang::types::IsoDuration;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Received, nothing done yet.
    Received,
    /// Waiting for the person to prove who they are.
    Verifying,
    /// The person's identity is established (or staff took the request from a known person).
    Verified,
    /// Waiting for a privacy officer to approve the plan.
    AwaitingApproval,
    /// Approved: a worker runs it (or will).
    InProgress,
    /// Waiting for systems Pledge cannot reach to report that they are done.
    AwaitingExternal,
    /// Answered. Final.
    Completed,
    /// Refused, with a reason told to the person. Final.
    Denied,
    /// The deadline was extended, with a reason told to the person; work continues.
    Extended,
    /// Withdrawn by the person or closed by staff without an answer. Final.
    Cancelled,
    /// Stopped for staff: the run failed in a way that will not mend itself (an identity
    /// that names several people, a declaration that does not match the database, a missing
    /// key), or a passing fault outlasted its retry budget. No worker holds it; staff retry
    /// it (after fixing the cause), complete it by hand, or deny it. The deadline still runs.
    NeedsAction,
}

/// Every state, in workflow order.
pub const STATES: [State; 11] = [
    State::Received,
    State::Verifying,
    State::Verified,
    State::AwaitingApproval,
    State::InProgress,
    State::AwaitingExternal,
    State::Completed,
    State::Denied,
    State::Extended,
    State::Cancelled,
    State::NeedsAction,
];

impl State {
    /// The snake_case name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Received => "received",
            State::Verifying => "verifying",
            State::Verified => "verified",
            State::AwaitingApproval => "awaiting_approval",
            State::InProgress => "in_progress",
            State::AwaitingExternal => "awaiting_external",
            State::Completed => "completed",
            State::Denied => "denied",
            State::Extended => "extended",
            State::Cancelled => "cancelled",
            State::NeedsAction => "needs_action",
        }
    }

    /// Completed, denied and cancelled requests never change again.
    pub fn is_final(self) -> bool {
        matches!(self, State::Completed | State::Denied | State::Cancelled)
    }

    /// The W3C DPV request status (`https://w3id.org/dpv#...`) that describes this state.
    pub fn dpv(self) -> &'static str {
        match self {
            State::Received => "dpv:RequestInitiated",
            State::Verifying => "dpv:RequestRequiresAction",
            State::Verified | State::AwaitingApproval => "dpv:RequestAcknowledged",
            State::InProgress | State::AwaitingExternal => "dpv:RequestAccepted",
            State::Completed => "dpv:RequestFulfilled",
            State::Denied => "dpv:RequestRejected",
            State::Extended => "dpv:RequestActionDelayed",
            State::Cancelled => "dpv:RequestUnfulfilled",
            // The person waits on the controller, not the other way round: delayed, as an
            // extension is (`RequestRequiresAction` is what `verifying` asks of the person).
            State::NeedsAction => "dpv:RequestActionDelayed",
        }
    }

    /// The states this one may move to. Extension is allowed once per request; the
    /// [`Request`] checks that, since the state alone does not remember it.
    pub fn successors(self) -> &'static [State] {
        use State::*;
        match self {
            Received => &[
                Verifying,
                Verified,
                AwaitingApproval,
                Denied,
                Cancelled,
                Extended,
            ],
            Verifying => &[Verified, Denied, Cancelled, Extended],
            Verified => &[AwaitingApproval, InProgress, Denied, Cancelled, Extended],
            AwaitingApproval => &[InProgress, Denied, Cancelled, Extended],
            InProgress => &[AwaitingExternal, Completed, Denied, Extended, NeedsAction],
            AwaitingExternal => &[InProgress, Completed, Denied, Extended, NeedsAction],
            // Retry (back to a worker), complete by hand, deny, extend, or close.
            NeedsAction => &[InProgress, Completed, Denied, Extended, Cancelled],
            // An extension only moves the deadline: the work goes on from wherever it was.
            Extended => &[
                Verifying,
                Verified,
                AwaitingApproval,
                InProgress,
                AwaitingExternal,
                Completed,
                Denied,
                Cancelled,
                NeedsAction,
            ],
            Completed | Denied | Cancelled => &[],
        }
    }

    /// Whether `self → to` is an allowed transition.
    pub fn can_move_to(self, to: State) -> bool {
        self.successors().contains(&to)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        STATES
            .iter()
            .copied()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownName(s.to_string()))
    }
}

/// The law a request is answered under: it decides the deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    Gdpr,
    Ccpa,
}

impl Regime {
    pub fn as_str(self) -> &'static str {
        match self {
            Regime::Gdpr => "gdpr",
            Regime::Ccpa => "ccpa",
        }
    }
}

impl FromStr for Regime {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "gdpr" => Ok(Regime::Gdpr),
            "ccpa" => Ok(Regime::Ccpa),
            _ => Err(UnknownName(s.to_string())),
        }
    }
}

/// The deadlines of one request, from its receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// By when receipt must be confirmed to the person (CCPA: 10 business days), if the law
    /// sets a separate time.
    pub confirm_by: Option<CivilTime>,
    /// By when the answer is due without an extension.
    pub due: CivilTime,
    /// By when the answer is due at the latest, with the one extension the law allows.
    pub extended_due: CivilTime,
}

/// The deadlines of a request for `right` received at `received` under `regime`.
///
/// - GDPR Art. 12(3): one month from receipt; extendable "by two further months where
///   necessary", so three months from receipt at most. Months clamp to the last day of a
///   shorter month (31 January + 1 month = 28/29 February), as Regulation 1182/71 counts.
/// - CCPA (Cal. Civ. Code §1798.130(a)(2), Regs. §7021): confirm within 10 business days,
///   answer within 45 calendar days, extendable once by 45 more (90 days from receipt).
/// - CCPA opt-out of sale/sharing (Regs. §7026(f)): as soon as feasible and within 15
///   business days, with no confirmation step and no extension.
pub fn deadlines(regime: Regime, right: Right, received: CivilTime) -> Deadlines {
    match regime {
        Regime::Ccpa if right == Right::OptOut => {
            let due = received.plus_business_days(15);
            Deadlines {
                confirm_by: None,
                due,
                extended_due: due,
            }
        }
        Regime::Gdpr => Deadlines {
            confirm_by: None,
            due: received.plus(&IsoDuration::months(1)),
            extended_due: received.plus(&IsoDuration::months(3)),
        },
        Regime::Ccpa => Deadlines {
            confirm_by: Some(received.plus_business_days(10)),
            due: received.plus(&IsoDuration::days(45)),
            extended_due: received.plus(&IsoDuration::days(90)),
        },
    }
}

/// What the workflow needs to know of a request to check a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub regime: Regime,
    pub right: Right,
    pub state: State,
    pub received_at: CivilTime,
    pub due_at: CivilTime,
    /// The reason given when the deadline was extended, once it was.
    pub extension_reason: Option<String>,
}

/// A change asked of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Move to `to` (verifying, verified, awaiting approval, in progress, awaiting external,
    /// completed, cancelled).
    To(State),
    /// Refuse the request, with the reason told to the person.
    Deny { reason: String },
    /// Extend the deadline once, with the reason told to the person.
    Extend { reason: String },
    /// Staff complete a request that needs action by hand (what they did, for the record;
    /// the person is told it is done). Only from `needs_action`: a running request is
    /// completed by its worker.
    Complete { note: String },
}

impl Transition {
    /// The state the transition leads to.
    pub fn target(&self) -> State {
        match self {
            Transition::To(s) => *s,
            Transition::Deny { .. } => State::Denied,
            Transition::Extend { .. } => State::Extended,
            Transition::Complete { .. } => State::Completed,
        }
    }
}

/// Why a transition was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransitionError {
    #[error("a request that is {from} cannot become {to}")]
    NotAllowed { from: State, to: State },
    #[error("the deadline was already extended once; the law allows one extension")]
    AlreadyExtended,
    #[error("the law allows no extension for a request of kind {0}")]
    NoExtension(Right),
    #[error("a {0} needs a reason, which is told to the person")]
    ReasonRequired(&'static str),
    #[error("a completion by hand needs a note of what was done, for the record")]
    NoteRequired,
    #[error("use the {0} transition, which carries the reason")]
    UseReasoned(&'static str),
}

/// The outcome of an allowed transition: the new state, and the new deadline if it moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub from: State,
    pub to: State,
    pub due_at: CivilTime,
    pub reason: Option<String>,
}

/// Checks `transition` against `request` and returns what changes. Pure: the caller stores it.
pub fn apply(request: &Request, transition: &Transition) -> Result<Applied, TransitionError> {
    let from = request.state;
    let to = transition.target();
    let reason = match transition {
        Transition::To(State::Denied) => return Err(TransitionError::UseReasoned("deny")),
        Transition::To(State::Extended) => return Err(TransitionError::UseReasoned("extend")),
        Transition::To(_) => None,
        Transition::Deny { reason }
        | Transition::Extend { reason }
        | Transition::Complete { note: reason } => {
            let reason = reason.trim();
            if reason.is_empty() {
                return Err(match transition {
                    Transition::Deny { .. } => TransitionError::ReasonRequired("denial"),
                    Transition::Extend { .. } => TransitionError::ReasonRequired("extension"),
                    _ => TransitionError::NoteRequired,
                });
            }
            Some(reason.to_string())
        }
    };
    if matches!(transition, Transition::Complete { .. }) && from != State::NeedsAction {
        return Err(TransitionError::NotAllowed { from, to });
    }
    if !from.can_move_to(to) {
        return Err(TransitionError::NotAllowed { from, to });
    }
    let due_at = if to == State::Extended {
        if request.extension_reason.is_some() {
            return Err(TransitionError::AlreadyExtended);
        }
        let limits = deadlines(request.regime, request.right, request.received_at);
        if limits.extended_due == limits.due {
            return Err(TransitionError::NoExtension(request.right));
        }
        limits.extended_due
    } else {
        request.due_at
    };
    Ok(Applied {
        from,
        to,
        due_at,
        reason,
    })
}

/// Whether an open request is past its deadline at `now`.
pub fn is_overdue(state: State, due_at: CivilTime, now: CivilTime) -> bool {
    !state.is_final() && now > due_at
}

#[cfg(test)]
mod tests {
    use super::*;
    use pledge_lang::rights::RIGHTS;
    use proptest::prelude::*;

    fn t(s: &str) -> CivilTime {
        s.parse().unwrap()
    }

    fn request(state: State) -> Request {
        let received_at = t("2026-01-31 10:00:00");
        Request {
            regime: Regime::Gdpr,
            right: Right::Access,
            state,
            received_at,
            due_at: deadlines(Regime::Gdpr, Right::Access, received_at).due,
            extension_reason: None,
        }
    }

    #[test]
    fn gdpr_one_month_plus_two() {
        let d = deadlines(Regime::Gdpr, Right::Erasure, t("2026-01-31 10:00:00"));
        assert_eq!(d.confirm_by, None);
        assert_eq!(d.due.to_string(), "2026-02-28 10:00:00");
        assert_eq!(d.extended_due.to_string(), "2026-04-30 10:00:00");
        let d = deadlines(Regime::Gdpr, Right::Erasure, t("2026-03-15 08:00:00"));
        assert_eq!(d.due.to_string(), "2026-04-15 08:00:00");
        assert_eq!(d.extended_due.to_string(), "2026-06-15 08:00:00");
    }

    #[test]
    fn ccpa_ten_business_days_45_plus_45() {
        // A Friday.
        let d = deadlines(Regime::Ccpa, Right::Access, t("2026-11-20 10:00:00"));
        assert_eq!(
            d.confirm_by.map(|c| c.to_string()).as_deref(),
            Some("2026-12-04 10:00:00")
        );
        assert_eq!(d.due.to_string(), "2027-01-04 10:00:00");
        assert_eq!(d.extended_due.to_string(), "2027-02-18 10:00:00");
    }

    #[test]
    fn ccpa_opt_out_within_15_business_days_without_extension() {
        // A Friday: 15 business days later is three weeks later.
        let received = t("2026-11-20 10:00:00");
        let d = deadlines(Regime::Ccpa, Right::OptOut, received);
        assert_eq!(d.confirm_by, None);
        assert_eq!(d.due.to_string(), "2026-12-11 10:00:00");
        assert_eq!(d.extended_due, d.due);
        let r = Request {
            regime: Regime::Ccpa,
            right: Right::OptOut,
            state: State::Verified,
            received_at: received,
            due_at: d.due,
            extension_reason: None,
        };
        let extend = Transition::Extend {
            reason: "busy".into(),
        };
        assert_eq!(
            apply(&r, &extend),
            Err(TransitionError::NoExtension(Right::OptOut))
        );
        // Under the GDPR an objection is answered like any request: one month, plus two.
        let d = deadlines(Regime::Gdpr, Right::Objection, received);
        assert_eq!(d.due.to_string(), "2026-12-20 10:00:00");
    }

    #[test]
    fn rights_name_round_trip_and_say_where_they_run() {
        for right in RIGHTS {
            assert_eq!(right.as_str().parse::<Right>(), Ok(right));
            if let Some(kind) = right.plan_kind() {
                assert_eq!(Right::from(kind), right);
                assert!(right.needs_verification());
            } else {
                assert!(!right.needs_verification());
            }
        }
        assert!("opt-out".parse::<Right>().is_err());
    }

    #[test]
    fn the_happy_paths_are_allowed() {
        use State::*;
        for path in [
            &[Received, Verifying, Verified, InProgress, Completed][..],
            &[Received, Verified, AwaitingApproval, InProgress, Completed],
            &[
                Received,
                Verified,
                InProgress,
                AwaitingExternal,
                InProgress,
                Completed,
            ],
            &[Received, Extended, Verified, InProgress, Completed],
            &[Received, AwaitingApproval, Denied],
            &[Received, Verifying, Cancelled],
        ] {
            for pair in path.windows(2) {
                assert!(pair[0].can_move_to(pair[1]), "{} → {}", pair[0], pair[1]);
            }
        }
    }

    #[test]
    fn final_states_stay_final() {
        for s in [State::Completed, State::Denied, State::Cancelled] {
            assert!(s.is_final());
            for to in STATES {
                assert!(!s.can_move_to(to));
            }
        }
    }

    #[test]
    fn deny_and_extend_need_reasons() {
        let r = request(State::AwaitingApproval);
        assert_eq!(
            apply(
                &r,
                &Transition::Deny {
                    reason: "  ".into()
                }
            ),
            Err(TransitionError::ReasonRequired("denial"))
        );
        assert_eq!(
            apply(&r, &Transition::To(State::Denied)),
            Err(TransitionError::UseReasoned("deny"))
        );
        let ok = apply(
            &r,
            &Transition::Deny {
                reason: "manifestly unfounded".into(),
            },
        )
        .unwrap();
        assert_eq!(ok.to, State::Denied);
        assert_eq!(ok.reason.as_deref(), Some("manifestly unfounded"));
    }

    #[test]
    fn extension_moves_the_deadline_once() {
        let mut r = request(State::InProgress);
        let applied = apply(
            &r,
            &Transition::Extend {
                reason: "complex request across 40 systems".into(),
            },
        )
        .unwrap();
        assert_eq!(applied.due_at.to_string(), "2026-04-30 10:00:00");
        r.state = applied.to;
        r.due_at = applied.due_at;
        r.extension_reason = applied.reason;
        let r2 = Request {
            state: State::InProgress,
            ..r.clone()
        };
        assert_eq!(
            apply(
                &r2,
                &Transition::Extend {
                    reason: "again".into()
                }
            ),
            Err(TransitionError::AlreadyExtended)
        );
        // The deadline stays extended through later transitions.
        let next = apply(&r, &Transition::To(State::InProgress)).unwrap();
        assert_eq!(next.due_at.to_string(), "2026-04-30 10:00:00");
    }

    #[test]
    fn needs_action_is_left_by_staff_only_and_keeps_the_deadline() {
        use State::*;
        for from in [InProgress, AwaitingExternal, Extended] {
            assert!(from.can_move_to(NeedsAction), "{from}");
        }
        for to in [InProgress, Completed, Denied, Extended, Cancelled] {
            assert!(NeedsAction.can_move_to(to), "{to}");
        }
        assert!(!NeedsAction.is_final());
        let r = request(NeedsAction);
        let retried = apply(&r, &Transition::To(InProgress)).unwrap();
        assert_eq!(retried.due_at, r.due_at);
        let done = apply(
            &r,
            &Transition::Complete {
                note: "answered by post".into(),
            },
        )
        .unwrap();
        assert_eq!(
            (done.to, done.reason.as_deref()),
            (Completed, Some("answered by post"))
        );
        assert_eq!(
            apply(&r, &Transition::Complete { note: " ".into() }),
            Err(TransitionError::NoteRequired)
        );
        // A running request is completed by its worker, not by hand.
        assert_eq!(
            apply(
                &request(InProgress),
                &Transition::Complete { note: "x".into() }
            ),
            Err(TransitionError::NotAllowed {
                from: InProgress,
                to: Completed
            })
        );
        let later = t("2026-06-01 00:00:00");
        assert!(is_overdue(NeedsAction, r.due_at, later));
    }

    #[test]
    fn not_allowed_names_both_states() {
        let r = request(State::Completed);
        let e = apply(&r, &Transition::To(State::InProgress)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a request that is completed cannot become in_progress"
        );
    }

    #[test]
    fn names_round_trip_and_dpv_terms_exist() {
        for s in STATES {
            assert_eq!(s.as_str().parse::<State>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert!(s.dpv().starts_with("dpv:Request"));
        }
        for r in RIGHTS {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        assert!("lost".parse::<State>().is_err());
        assert_eq!("ccpa".parse::<Regime>(), Ok(Regime::Ccpa));
    }

    #[test]
    fn overdue_only_when_open() {
        let due = t("2026-02-28 10:00:00");
        let later = t("2026-03-01 00:00:00");
        assert!(is_overdue(State::InProgress, due, later));
        assert!(!is_overdue(State::Completed, due, later));
        assert!(!is_overdue(
            State::InProgress,
            due,
            t("2026-02-01 00:00:00")
        ));
    }

    fn any_state() -> impl Strategy<Value = State> {
        (0usize..STATES.len()).prop_map(|i| STATES[i])
    }

    proptest! {
        /// Whatever sequence of transitions is tried, only allowed ones apply, a final state
        /// is never left, the deadline never moves back and is extended at most once.
        #[test]
        fn random_walks_keep_the_invariants(
            steps in proptest::collection::vec((any_state(), any::<bool>()), 0..40),
            secs in 0i64..4_000_000_000,
            ccpa in any::<bool>(),
            right in (0usize..RIGHTS.len()).prop_map(|i| RIGHTS[i]),
        ) {
            let regime = if ccpa { Regime::Ccpa } else { Regime::Gdpr };
            let received_at = CivilTime::from_unix(secs);
            let d = deadlines(regime, right, received_at);
            prop_assert!(d.due > received_at && d.extended_due >= d.due);
            let mut r = Request { regime, right, state: State::Received, received_at, due_at: d.due, extension_reason: None };
            let mut extensions = 0;
            for (to, with_reason) in steps {
                let transition = match (to, with_reason) {
                    (State::Denied, _) => Transition::Deny { reason: "r".into() },
                    (State::Extended, true) => Transition::Extend { reason: "r".into() },
                    (State::Completed, true) => Transition::Complete { note: "r".into() },
                    (s, _) => Transition::To(s),
                };
                // A refused transition leaves the request as it was; an applied one is checked.
                if let Ok(a) = apply(&r, &transition) {
                    prop_assert!(r.state.can_move_to(a.to));
                    prop_assert!(!r.state.is_final());
                    prop_assert!(a.due_at >= r.due_at);
                    if a.to == State::Extended {
                        extensions += 1;
                        r.extension_reason = a.reason.clone();
                    }
                    r.state = a.to;
                    r.due_at = a.due_at;
                }
            }
            prop_assert!(extensions <= 1);
            prop_assert!(r.due_at <= d.extended_due);
        }
    }
}
