//! The claim language: formulas a researcher writes in a scenario or claims file, checked
//! against the scenario's finite domains and evaluated on the model's states.
//!
//! A claim is `always φ`, `sometimes φ` or `eventually φ`; `φ` is built from atoms over what
//! the parties can derive (`knows`, the Dolev–Yao synthesis of `knowledge.rs`), what they hold
//! (`holds`, a pattern over the analysed terms), the lookup log's records, disclosures, the
//! devices' sent, learned and accepted messages, with `not and or implies`, comparisons and
//! `forall`/`exists` over the scenario's finite sorts or over a state's collections. The
//! grammar is in the README ("Writing a claim").
//!
//! [`compile`] turns the text into a typed tree ([`Formula`]) or a [`FormulaError`] located in
//! the text; it knows the scenario, so names are resolved once (handles, devices, messages,
//! addresses) and fields the variant does not record are rejected. [`Formula::holds`]
//! evaluates the tree on a state; [`Formula::reads`] gives what it reads, which is what the
//! partial-order reduction may not postpone a write to (`footprints.rs`).
//!
//! The tree is in [`tree`], the type-checker in [`compile`], evaluation in [`eval`]; scenarios
//! hold compiled formulas, so `tree` imports no scenario and reads no state.

pub mod compile;
pub mod eval;
pub mod observe;
pub mod syntax;
pub mod tree;

pub use compile::{compile, nearest, MAX_PRODUCT};
pub use tree::{Formula, FormulaError, MAX_HISTORY_BITS};
