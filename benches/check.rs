//! Checking speed on fixed scenarios, with and without partial-order reduction. Each benchmark
//! explores one scenario's whole state space; throughput is reported in unique states per
//! second.
//!
//! * `baseline`: the honest baseline of `models/` (one send, one court order, ordered network);
//!   stresses the per-state cost of the actors and the claims.
//! * `population`: three accounts, three concurrent user actions and a court order on an
//!   unordered network (`benches/scenarios/population.toml`); stresses state growth and
//!   deduplication.
//! * `ladder-4`: the scale ladder's middle rung (`benches/scenarios/ladder-4-two-way.toml`: A/1
//!   and B/1 each look up and write to the other, three days); stresses interleaving, which the
//!   reduction removes.
//! * `two-way-three-devices` (reduced only; unreduced it takes minutes): each of A/1, B/1, B/2
//!   looks up and writes to the other account.
//! * `claims/ladder-5`: `ladder-5-interchangeable-lookups` checked with the catalogue's built-in
//!   conditions and with the same claims written in the claim language
//!   (`claims/catalogue.toml`), which store the same states: the cost of evaluating formulas.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use imessage_model::check::{explore_with, Limits, Reduction};
use imessage_model::load::{add_claims_file, parse};
use imessage_model::ProtocolModel;
use std::path::Path;
use std::time::Duration;

fn load(rel: &str) -> ProtocolModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let text = std::fs::read_to_string(&path).expect("the benchmark scenario exists");
    ProtocolModel::new(parse(Path::new(rel), &text).expect("the benchmark scenario parses"))
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("check");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for (name, rel, reductions) in [
        (
            "baseline",
            "models/baseline.toml",
            &[Reduction::None, Reduction::Por][..],
        ),
        (
            "population",
            "benches/scenarios/population.toml",
            &[Reduction::None, Reduction::Por],
        ),
        (
            "ladder-4",
            "benches/scenarios/ladder-4-two-way.toml",
            &[Reduction::None, Reduction::Por],
        ),
        (
            "two-way-three-devices",
            "benches/scenarios/two-way-three-devices.toml",
            &[Reduction::Por],
        ),
    ] {
        let model = load(rel);
        let limits = Limits::of(&model.scenario);
        for &reduction in reductions {
            let unique = explore_with(&model, limits, reduction, None).unique_states();
            group.throughput(Throughput::Elements(unique as u64));
            group.bench_function(format!("{name}/{}", reduction.name()), |b| {
                b.iter(|| explore_with(&model, limits, reduction, None).unique_states())
            });
        }
    }
    group.finish();
}

fn claims(c: &mut Criterion) {
    let mut group = c.benchmark_group("claims");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    let rel = "benches/scenarios/ladder-5-interchangeable-lookups.toml";
    let library_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("claims/catalogue.toml");
    let library = std::fs::read_to_string(library_path).expect("the library exists");
    for label in ["built-in", "library"] {
        let mut model = load(rel);
        if label == "library" {
            let mut s = (*model.scenario).clone();
            add_claims_file(&mut s, Path::new("claims/catalogue.toml"), &library)
                .expect("the library compiles");
            model = ProtocolModel::new(s);
        }
        let limits = Limits::of(&model.scenario);
        let unique = explore_with(&model, limits, Reduction::Por, None).unique_states();
        group.throughput(Throughput::Elements(unique as u64));
        group.bench_function(format!("ladder-5/{label}"), |b| {
            b.iter(|| explore_with(&model, limits, Reduction::Por, None).unique_states())
        });
    }
    group.finish();
}

criterion_group!(benches, bench, claims);
criterion_main!(benches);
