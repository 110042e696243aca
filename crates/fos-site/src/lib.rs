//! `fos-site`: one FOS site — a data directory with its keys, users, gate policy and state, and the
//! provenance ledger — and every operation people and models perform on it, as typed functions that
//! return serde-serializable results. The command line (`fos users|gate|findings|audit`) and the HTTP
//! API (`fos-server`) are both thin layers over this crate.
//!
//! | module | what |
//! | --- | --- |
//! | [`site`] | [`Site`]: open or create a site; a handle that is `Send + Sync` (one mutex around the mutable parts, the file lock `DIR/gate/lock` against other processes, reload when another process changed the site) |
//! | [`users`] | add users (recorded in the ledger), list them without secrets, authenticate ([`Site::authenticate`]) |
//! | [`gate`] | propose ([`ActionSpec`] for every kind), approve / reject / reverse, stop / resume, execute, list, show |
//! | [`findings`] | diagnose a recording and record its findings; challenges, verdicts, figures, training labels |
//! | [`audit`] | verify the ledger, provenance chains, inclusion proofs, evidence export, the latest checkpoint |
//! | [`paths`] | the layout of a data directory, key files, the read-only ledger of a directory |
//! | [`error`] | [`SiteError`] and its [`ErrorKind`]: forbidden (with the reason), not found, bad request, conflict, I/O |
//!
//! **People act as [`AuthenticatedUser`]s**, never as passwords: [`Site::authenticate`] checks the
//! password once and unlocks the user's signing key (sealed under the password in `users.json`); an
//! operation re-checks that the user still exists with the same key.
//!
//! **Architecture invariants.** Every operation that changes the site appends its provenance records to
//! the ledger, durably and under a signed checkpoint, *before* it changes the gate's working state or
//! returns; a refused operation appends nothing. No write reaches a controller except through
//! [`Site::execute`], which obtains the gate's execution capability only against the durable ledger
//! record of the approval (or of the policy's automatic decision) and records the capability before the
//! write. Operations block (file I/O, fsync, argon2, device writes bounded by a timeout): call them from
//! a blocking thread in async code.
//!
//! ```no_run
//! use std::time::Duration;
//! use fos_site::{ActionSpec, ProposeRequest, Proposer, Site};
//!
//! let site = Site::open("fos-data".as_ref(), false)?;
//! let req = ProposeRequest {
//!     action: ActionSpec::ToolOffset {
//!         machine: "mill-3".into(), tool: 5, offset_kind: fos_act::ToolOffsetKind::LengthWear,
//!         current_mm: -0.02, delta_mm: 0.002, device_tag: None,
//!     },
//!     subsystem: None, tags: vec![], id: None, reason: "wear model".into(), evidence: vec![],
//! };
//! let proposed = site.propose(Proposer::Model("wear-net@2.1"), &req)?;
//! let alex = site.authenticate("alex", "approver-pass-1")?;
//! if proposed.status == fos_gate::Status::AwaitingApproval {
//!     site.decide(&alex, &proposed.id, fos_gate::Verdict::Approve, "")?;
//! }
//! let done = site.execute(Some(&alex), &proposed.id, Duration::from_secs(3))?;
//! assert!(done.capability_record < done.execution_record);
//! # Ok::<(), fos_site::SiteError>(())
//! ```

pub mod audit;
pub mod error;
pub mod findings;
pub mod gate;
pub mod paths;
pub mod site;
pub mod users;

pub use error::{ErrorKind, Result, SiteError};
pub use fos_gate::{AuthenticatedUser, HaltInfo, Role, Status, Verdict};
pub use gate::{
    ActionSpec, ExecuteOut, GateStatus, ProposalDetail, ProposalList, ProposalSummary, ProposeRequest, Proposed, Proposer,
    RecordLine, ResumeOut, StopOut, VerdictOut,
};
pub use paths::{now_ms, parse_public_key, read_records, site_public_key, Paths};
pub use site::Site;
pub use users::{list_users, UserOut};
