//! Tests of the weld planner: hand-checked cells, validation, the degraded-torch case, random cells.

use super::*;
use proptest::prelude::*;

fn torch(id: &str, home: [f64; 3], speed: f64, health: f64) -> Torch {
    Torch { id: id.into(), home, travel_speed_mm_s: speed, health }
}

fn weld(id: &str, pos: [f64; 3], length_mm: f64, nominal_seconds: f64, reach: &[&str]) -> Weld {
    Weld { id: id.into(), pos, length_mm, nominal_seconds, reachable_by: reach.iter().map(|s| s.to_string()).collect() }
}

fn cell(torches: Vec<Torch>, welds: Vec<Weld>, precedence: &[(&str, &str)]) -> Cell {
    Cell {
        torches,
        welds,
        precedence: precedence.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
        min_usable_health: 0.2,
        distortion: DistortionModel::default(),
    }
}

fn plan(seqs: &[(&str, &[&str])]) -> Plan {
    Plan { sequences: seqs.iter().map(|(t, ws)| (t.to_string(), ws.iter().map(|w| w.to_string()).collect())).collect() }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn one_torch_by_hand() {
    // T1 at the origin, 100 mm/s. w1 at (100, 0): 1 s travel, weld 10 s → 1..11.
    // w2 at (100, 200): 200 mm = 2 s travel → 13..18. Makespan 18 s, travel 300 mm.
    // Distortion: one pair, heat (50 + 20) / 2 = 35, distance 200 + ℓ 50 = 250, gap 13 − 11 = 2 s:
    // 35 / 250 · exp(−2 / 60).
    let c = cell(
        vec![torch("T1", [0.0; 3], 100.0, 1.0)],
        vec![weld("w1", [100.0, 0.0, 0.0], 50.0, 10.0, &["T1"]), weld("w2", [100.0, 200.0, 0.0], 20.0, 5.0, &["T1"])],
        &[],
    );
    let p = plan(&[("T1", &["w1", "w2"])]);
    let m = evaluate(&c, &p).unwrap();
    assert!(close(m.makespan_s, 18.0), "{m:?}");
    assert!(close(m.travel_mm, 300.0), "{m:?}");
    assert!(close(m.distortion_index, 35.0 / 250.0 * (-2.0f64 / 60.0).exp()), "{m:?}");
    let s = schedule(&c, &p).unwrap();
    assert_eq!((s[0].start_s, s[0].finish_s, s[1].start_s, s[1].finish_s), (1.0, 11.0, 13.0, 18.0));
}

fn two_torch_cell() -> Cell {
    cell(
        vec![torch("T1", [0.0; 3], 100.0, 1.0), torch("T2", [1000.0, 0.0, 0.0], 200.0, 0.5)],
        vec![
            weld("w1", [0.0, 100.0, 0.0], 10.0, 25.0, &["T1"]),
            weld("w2", [1000.0, 100.0, 0.0], 10.0, 10.0, &["T2"]),
            weld("w3", [1000.0, 300.0, 0.0], 10.0, 5.0, &["T2"]),
        ],
        &[("w1", "w3")],
    )
}

#[test]
fn precedence_waits_across_torches_by_hand() {
    // T1: 100 mm at 100 mm/s → w1 1..26.
    // T2 (health 0.5, so welds take twice as long): 100 mm at 200 mm/s → w2 0.5..20.5; 200 mm → at w3 at 21.5,
    // but w3 waits for w1 (finished on T1 at 26) → w3 26..36. Makespan 36 s, travel 100 + 100 + 200 = 400 mm.
    let c = two_torch_cell();
    let p = plan(&[("T1", &["w1"]), ("T2", &["w2", "w3"])]);
    let m = evaluate(&c, &p).unwrap();
    assert!(close(m.makespan_s, 36.0), "{m:?}");
    assert!(close(m.travel_mm, 400.0), "{m:?}");
    let s = schedule(&c, &p).unwrap();
    let t: Vec<(&str, f64, f64)> = s.iter().map(|x| (x.weld.as_str(), x.start_s, x.finish_s)).collect();
    assert_eq!(t, [("w2", 0.5, 20.5), ("w1", 1.0, 26.0), ("w3", 26.0, 36.0)]);
}

#[test]
fn validation_names_every_weld() {
    let c = cell(
        vec![torch("T1", [0.0; 3], 100.0, 1.0), torch("T2", [0.0; 3], 100.0, 0.1)],
        vec![
            weld("a", [0.0; 3], 1.0, 1.0, &["T1", "T2"]),
            weld("b", [0.0; 3], 1.0, 1.0, &["T1"]),
            weld("c", [0.0; 3], 1.0, 1.0, &["T1"]),
            weld("d", [0.0; 3], 1.0, 1.0, &["T1", "T2"]),
        ],
        &[],
    );
    let p = plan(&[("T1", &["a", "a", "x"]), ("T2", &["d", "b"]), ("T9", &["c"])]);
    let Err(WeldError::InvalidPlan(problems)) = validate(&c, &p) else { panic!() };
    let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        text,
        [
            "weld x (given to T1) is not in the cell",
            "weld d is given to T2, unusable at health 0.1",
            "weld b is given to T2, which cannot reach it",
            "torch T9 is not in the cell",
            "weld a is planned 2 times",
            "weld c is not planned",
        ]
    );
    assert!(evaluate(&c, &p).is_err());
}

#[test]
fn deadlocks_between_torch_order_and_precedence_are_found() {
    let both = &["T1", "T2"];
    let c = cell(
        vec![torch("T1", [0.0; 3], 100.0, 1.0), torch("T2", [0.0; 3], 100.0, 1.0)],
        vec![
            weld("a", [0.0; 3], 1.0, 1.0, both),
            weld("b", [0.0; 3], 1.0, 1.0, both),
            weld("c", [0.0; 3], 1.0, 1.0, both),
            weld("d", [0.0; 3], 1.0, 1.0, both),
        ],
        &[("a", "b"), ("c", "d")],
    );
    // b waits for a, which T2 does after d; d waits for c, which T1 does after b.
    let p = plan(&[("T1", &["b", "c"]), ("T2", &["d", "a"])]);
    let Err(WeldError::InvalidPlan(problems)) = validate(&c, &p) else { panic!() };
    let [PlanProblem::Deadlock { welds }] = problems.as_slice() else { panic!("{problems:?}") };
    assert_eq!(welds.len(), 5, "{welds:?}");
    assert_eq!(welds.first(), welds.last());
    let mut set: Vec<&String> = welds[..4].iter().collect();
    set.sort();
    assert_eq!(set, ["a", "b", "c", "d"]);
    // The same order on one torch against its own precedence.
    let p = plan(&[("T1", &["b", "a", "c", "d"])]);
    assert!(matches!(validate(&c, &p), Err(WeldError::InvalidPlan(p)) if matches!(&p[0], PlanProblem::Deadlock { .. })));
}

#[test]
fn cell_errors_are_clear() {
    let one = &["T1"];
    let t = || vec![torch("T1", [0.0; 3], 100.0, 1.0)];
    let c = cell(
        t(),
        vec![weld("a", [0.0; 3], 1.0, 1.0, one), weld("b", [0.0; 3], 1.0, 1.0, one), weld("c", [0.0; 3], 1.0, 1.0, one)],
        &[("a", "b"), ("b", "c"), ("c", "a")],
    );
    let e = replan(&c, &Plan::default(), &Objective::default()).unwrap_err();
    let WeldError::PrecedenceCycle { welds } = &e else { panic!("{e}") };
    assert_eq!(welds.len(), 4);
    assert_eq!(welds.first(), welds.last());
    assert!(e.to_string().starts_with("precedence cycle: "), "{e}");

    let c = cell(t(), vec![weld("a", [0.0; 3], 1.0, 1.0, &[])], &[]);
    assert_eq!(
        replan(&c, &Plan::default(), &Objective::default()).unwrap_err().to_string(),
        "weld a cannot be done: no torch reaches it"
    );
    let c = cell(vec![torch("T1", [0.0; 3], 100.0, 0.1)], vec![weld("a", [0.0; 3], 1.0, 1.0, one)], &[]);
    assert_eq!(
        validate(&c, &Plan::default()).unwrap_err().to_string(),
        "weld a cannot be done: only T1 reaches it, below the usable health 0.2"
    );
    let c = cell(t(), vec![weld("a", [0.0; 3], 1.0, 1.0, &["T7"])], &[]);
    assert!(matches!(validate(&c, &Plan::default()), Err(WeldError::UnknownReachTorch { .. })));
    let c = cell(t(), vec![weld("a", [0.0; 3], 1.0, 1.0, one)], &[("a", "zz")]);
    assert!(matches!(validate(&c, &Plan::default()), Err(WeldError::UnknownPrecedenceWeld { weld }) if weld == "zz"));
    let c = cell(vec![torch("T1", [0.0; 3], 0.0, 1.0)], vec![], &[]);
    assert_eq!(validate(&c, &Plan::default()).unwrap_err().to_string(), "torch T1 travel_speed_mm_s = 0: > 0");
    let c = cell(t(), vec![weld("a", [f64::NAN, 0.0, 0.0], 1.0, 1.0, one)], &[]);
    assert!(matches!(validate(&c, &Plan::default()), Err(WeldError::InvalidValue { .. })));
    let bad = Objective { makespan_weight: 0.0, travel_weight: 0.0, ..Objective::default() };
    assert!(matches!(replan(&c, &Plan::default(), &bad), Err(WeldError::InvalidObjective(_))));
}

/// Two torches 400 mm apart, each with two welds 100 and 200 mm in front of it; 100 mm/s, 10 s per weld.
fn square_cell(t2_health: f64) -> Cell {
    let both = &["T1", "T2"];
    cell(
        vec![torch("T1", [0.0; 3], 100.0, 1.0), torch("T2", [400.0, 0.0, 0.0], 100.0, t2_health)],
        vec![
            weld("w1", [0.0, 100.0, 0.0], 10.0, 10.0, both),
            weld("w2", [0.0, 200.0, 0.0], 10.0, 10.0, both),
            weld("w3", [400.0, 100.0, 0.0], 10.0, 10.0, both),
            weld("w4", [400.0, 200.0, 0.0], 10.0, 10.0, both),
        ],
        &[],
    )
}

#[test]
fn a_torch_at_half_health_loses_a_weld_to_the_other() {
    // Current plan, each torch its own two welds: T1 1..11, 12..22. T2 at health 0.5 welds 20 s:
    // 1..21, 22..42. Makespan 42 s.
    // Best: T1 takes w4 as well — w1 1..11, w2 12..22, 400 mm → w4 26..36; T2 keeps w3 1..21. Makespan 36 s:
    // a gain of 6 s. (T1 cannot take all four: 40 s of welding alone exceeds 36; T2 cannot do two: 40 s.)
    let c = square_cell(0.5);
    let current = plan(&[("T1", &["w1", "w2"]), ("T2", &["w3", "w4"])]);
    let r = replan(&c, &current, &Objective::default()).unwrap();
    let Baseline::Feasible { metrics } = &r.before else { panic!("{:?}", r.before) };
    assert!(close(metrics.makespan_s, 42.0), "{metrics:?}");
    assert!(close(r.after.makespan_s, 36.0), "{:?}", r.after);
    assert!(close(r.gain_s.unwrap(), 6.0));
    assert_eq!(r.plan, plan(&[("T1", &["w1", "w2", "w4"]), ("T2", &["w3"])]));
    assert_eq!(r.moved_welds, [MovedWeld { weld: "w4".into(), from: Some("T2".into()), to: "T1".into() }]);
    assert!(r.distortion_change.is_some());
    validate(&c, &r.plan).unwrap();
    // At full health the current split is already optimal: nothing moves.
    let r = replan(&square_cell(1.0), &current, &Objective::default()).unwrap();
    assert!(close(r.after.makespan_s, 22.0) && close(r.gain_s.unwrap(), 0.0), "{r:?}");
    assert!(r.moved_welds.is_empty(), "{r:?}");
}

#[test]
fn an_unusable_torch_makes_the_current_plan_infeasible() {
    // T2 at 0.1 < 0.2: its welds go to T1. The fallback is T1 alone in list order w1, w2, w3, w4:
    // 100 + 100 + √(400² + 100²) + 100 = 712.3 mm → 47.12 s; the search finds w1, w2, w4, w3 (700 mm, 47 s).
    let c = square_cell(0.1);
    let current = plan(&[("T1", &["w1", "w2"]), ("T2", &["w3", "w4"])]);
    let r = replan(&c, &current, &Objective::default()).unwrap();
    let Baseline::Infeasible { problems, fallback: Some(fb) } = &r.before else { panic!("{:?}", r.before) };
    assert_eq!(problems.len(), 2);
    assert!(problems[0].contains("w3") && problems[0].contains("unusable"), "{problems:?}");
    assert_eq!(fb.torch, "T1");
    let diag = (400.0f64 * 400.0 + 100.0 * 100.0).sqrt();
    assert!(close(fb.metrics.makespan_s, 40.0 + (300.0 + diag) / 100.0), "{fb:?}");
    assert!(close(r.after.makespan_s, 47.0), "{:?}", r.after);
    assert!(close(r.gain_s.unwrap(), (diag - 400.0) / 100.0));
    assert_eq!(r.moved_welds.len(), 2);
    assert!(r.before.to_string().starts_with("current plan infeasible"), "{}", r.before);

    // No single torch reaches everything: no fallback, no stated gain.
    let c = cell(
        vec![torch("T1", [0.0; 3], 100.0, 1.0), torch("T2", [0.0; 3], 100.0, 1.0), torch("T3", [0.0; 3], 100.0, 0.0)],
        vec![weld("a", [0.0; 3], 1.0, 1.0, &["T1", "T3"]), weld("b", [0.0; 3], 1.0, 1.0, &["T2", "T3"])],
        &[],
    );
    let r = replan(&c, &plan(&[("T3", &["a", "b"])]), &Objective::default()).unwrap();
    assert!(matches!(r.before, Baseline::Infeasible { fallback: None, .. }));
    assert_eq!((r.gain_s, r.distortion_change), (None, None));
    validate(&c, &r.plan).unwrap();
}

#[test]
fn distortion_weight_spreads_the_heat() {
    // One torch, three welds on a line: 0, 10 and 1000 mm. With distortion weighted heavily, the planner
    // avoids welding the two neighbours back to back when that costs little time.
    let one = &["T1"];
    let c = cell(
        vec![torch("T1", [0.0; 3], 1000.0, 1.0)],
        vec![
            weld("a", [0.0, 0.0, 0.0], 100.0, 5.0, one),
            weld("b", [10.0, 0.0, 0.0], 100.0, 5.0, one),
            weld("c", [1000.0, 0.0, 0.0], 100.0, 5.0, one),
        ],
        &[],
    );
    let fast = replan(&c, &Plan::default(), &Objective::default()).unwrap();
    let cool = Objective { makespan_weight: 0.01, distortion_weight: 100.0, ..Objective::default() };
    let spread = replan(&c, &Plan::default(), &cool).unwrap();
    assert!(spread.after.distortion_index < fast.after.distortion_index, "{spread:?} {fast:?}");
    let order = &spread.plan.sequences["T1"];
    let pos = |w: &str| order.iter().position(|x| x == w).unwrap();
    assert_eq!(pos("c"), 1, "{order:?}");
}

fn arb_cell() -> impl Strategy<Value = (Cell, Plan)> {
    (2usize..4, 3usize..9)
        .prop_flat_map(|(nt, nw)| {
            (
                prop::collection::vec(([0.0f64..1000.0, 0.0f64..1000.0], 50.0f64..500.0, 0.0f64..1.0), nt),
                prop::collection::vec(([0.0f64..1000.0, 0.0f64..1000.0], 1.0f64..200.0, 1.0f64..30.0, prop::collection::vec(any::<bool>(), nt), 0..nt), nw),
                prop::collection::vec((0..nw, 0..nw), 0..nw),
                prop::collection::vec(0..nt, nw),
                prop::bool::weighted(0.25),
            )
        })
        .prop_map(|(torches, welds, prec, assign, scramble)| {
            let torches: Vec<Torch> = torches
                .into_iter()
                .enumerate()
                .map(|(i, (h, speed, health))| torch(&format!("T{i}"), [h[0], h[1], 0.0], speed, if i == 0 { 1.0 } else { health }))
                .collect();
            let welds: Vec<Weld> = welds
                .into_iter()
                .enumerate()
                .map(|(i, (p, len, secs, reach, must))| {
                    // Torch 0 is always usable; every weld is reachable by it or by `must`.
                    let mut r: Vec<String> = reach.iter().enumerate().filter(|(_, &b)| b).map(|(t, _)| format!("T{t}")).collect();
                    let anchor = if torches[must].health >= 0.2 { must } else { 0 };
                    if !r.contains(&format!("T{anchor}")) {
                        r.push(format!("T{anchor}"));
                    }
                    Weld { id: format!("w{i}"), pos: [p[0], p[1], 0.0], length_mm: len, nominal_seconds: secs, reachable_by: r }
                })
                .collect();
            // Precedence only from lower to higher index: acyclic.
            let precedence = prec
                .into_iter()
                .filter(|(a, b)| a < b)
                .map(|(a, b)| (format!("w{a}"), format!("w{b}")))
                .collect();
            // Mostly a feasible current plan (a usable torch that reaches the weld, in index order, which respects
            // the precedence); sometimes any torch at all.
            let mut sequences: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (w, t) in assign.into_iter().enumerate() {
                let ok: Vec<&String> =
                    welds[w].reachable_by.iter().filter(|id| torches.iter().any(|x| &x.id == *id && x.health >= 0.2)).collect();
                let torch = if scramble { format!("T{t}") } else { ok[t % ok.len()].clone() };
                sequences.entry(torch).or_default().push(format!("w{w}"));
            }
            (Cell { torches, welds, precedence, min_usable_health: 0.2, distortion: DistortionModel::default() }, Plan { sequences })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn replans_validate_and_never_lose_to_the_list_schedule_or_the_current_plan(
        (cell, current) in arb_cell(),
        seed in any::<u64>(),
        dw in 0.0f64..2.0,
    ) {
        let obj = Objective { distortion_weight: dw, seed, max_evaluations: 3000, ..Objective::default() };
        let r = replan(&cell, &current, &obj).unwrap();
        validate(&cell, &r.plan).unwrap();
        let m = evaluate(&cell, &r.plan).unwrap();
        prop_assert_eq!(m, r.after);
        let list = evaluate(&cell, &list_schedule(&cell).unwrap()).unwrap();
        prop_assert_eq!(list, r.list_schedule);
        prop_assert!(obj.score(&r.after) <= obj.score(&list) + 1e-9, "{} > {}", obj.score(&r.after), obj.score(&list));
        if let Baseline::Feasible { metrics } = &r.before {
            prop_assert!(obj.score(&r.after) <= obj.score(metrics) + 1e-9);
            prop_assert!(r.gain_s.is_some());
        }
        // Deterministic given the seed.
        prop_assert_eq!(&replan(&cell, &current, &obj).unwrap(), &r);
    }

    #[test]
    fn makespan_only_never_exceeds_the_list_schedule((cell, current) in arb_cell()) {
        let obj = Objective { travel_weight: 0.0, max_evaluations: 3000, ..Objective::default() };
        let r = replan(&cell, &current, &obj).unwrap();
        let list = evaluate(&cell, &list_schedule(&cell).unwrap()).unwrap();
        prop_assert!(r.after.makespan_s <= list.makespan_s + 1e-9);
        // Every weld is done once, and precedence holds in the timeline.
        let s = schedule(&cell, &r.plan).unwrap();
        prop_assert_eq!(s.len(), cell.welds.len());
        let at: BTreeMap<&str, (f64, f64)> = s.iter().map(|x| (x.weld.as_str(), (x.start_s, x.finish_s))).collect();
        for (a, b) in &cell.precedence {
            prop_assert!(at[a.as_str()].1 <= at[b.as_str()].0 + 1e-9);
        }
    }
}
