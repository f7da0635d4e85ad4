//! Checking speed on fixed scenarios. Each benchmark explores one scenario's whole state
//! space; throughput is reported in unique states per second.
//!
//! * `baseline`: the honest baseline of `models/` (one send, one court order, ordered network);
//!   stresses the per-state cost of the actors and the claims.
//! * `population`: three accounts, three concurrent user actions and a court order on an
//!   unordered network (`benches/scenarios/population.toml`); stresses state growth and
//!   deduplication.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use imessage_model::check::{explore, Limits};
use imessage_model::scenario::parse;
use imessage_model::ProtocolModel;
use std::path::Path;

fn load(rel: &str) -> ProtocolModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let text = std::fs::read_to_string(&path).expect("the benchmark scenario exists");
    ProtocolModel::new(parse(Path::new(rel), &text).expect("the benchmark scenario parses"))
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("check");
    for (name, rel) in [
        ("baseline", "models/baseline.toml"),
        ("population", "benches/scenarios/population.toml"),
    ] {
        let model = load(rel);
        let limits = Limits::of(&model.scenario);
        let unique = explore(&model, limits).unique_states();
        group.throughput(Throughput::Elements(unique as u64));
        group.bench_function(name, |b| b.iter(|| explore(&model, limits).unique_states()));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
