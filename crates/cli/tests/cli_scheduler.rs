//! `keyward scheduler ...` (job configs, running them, their runs) and the rotation commands
//! of `keyward aws keys` (rotate, enable/disable-rotation-job, rotations) against a real
//! server: tables by default, the server's JSON with --json, the server's message (exit
//! non-zero) on errors, and flag mistakes refused before any request.
//!
//! Tests marked "NEEDS THE SERVER SIDE OF RUNS/ROTATE" use `POST /scheduler/job-configs/{id}/run`,
//! `/scheduler/job-runs`, `POST /cckm/aws/keys/{id}/rotate` or `GET .../rotations`; the others
//! need only what the server has had since the job configs. Tests that create AWS keys or KMS
//! containers need LocalStack's KMS (KEYWARD_TEST_KMS_ENDPOINT, set by scripts/test.sh).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::cli_user::{Cli, aliases, row, table_row};
use common::{Aws, Server};
use serde_json::{Value, json};

/// A name no earlier run used (LocalStack keeps its aliases for its whole life).
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

/// A server with a LocalStack connection in an AWS account of its own and the KMS container
/// `kms` over ap-south-1 (made through the API: the CLI's own commands for them are tested
/// elsewhere), and a CLI logged in to it.
async fn start_with_container() -> (Server, Cli) {
    let server = Server::start();
    let admin = server.admin().await;
    server.localstack_kms(&admin, &Aws::fresh()).await;
    let cli = Cli::login(&server);
    (server, cli)
}

/// The arguments of `keyward scheduler` that create a job config: `configs create --name NAME
/// --operation OPERATION --run-at RUN_AT EXTRA...`.
fn create_args<'a>(
    name: &'a str,
    operation: &'a str,
    run_at: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "configs",
        "create",
        "--name",
        name,
        "--operation",
        operation,
        "--run-at",
        run_at,
    ];
    args.extend_from_slice(extra);
    args
}

/// A key in `kms` / ap-south-1 with this alias, made with the CLI; returns its JSON.
fn create_key(cli: &Cli, alias: &str) -> Value {
    cli.keys_json(&[
        "create",
        "--kms",
        "kms",
        "--region",
        "ap-south-1",
        "--alias",
        alias,
    ])
}

/// A rotation config made with the CLI; returns its JSON.
fn rotation_config(cli: &Cli, name: &str) -> Value {
    cli.sched_json(&create_args(name, "rotation", "0 9 * * sat", &[]))
}

// --- no server needed -------------------------------------------------------------------

#[test]
fn create_refuses_flags_of_the_other_operation_before_any_request() {
    // Not logged in: a mistake is reported before the CLI would need the server.
    let cli = Cli::new();
    let create = |extra: &[&str]| {
        let mut args = vec![
            "scheduler",
            "configs",
            "create",
            "--name",
            "c1",
            "--run-at",
            "0 9 * * sat",
        ];
        args.extend_from_slice(extra);
        cli.run(&args, &[])
    };
    let refused = |extra: &[&str], needle: &str| {
        let (ok, out, err) = create(extra);
        assert!(!ok, "{extra:?} succeeded: {out}");
        assert!(err.contains(needle), "{extra:?}: {err}");
        assert!(!err.contains("not logged in"), "{extra:?}: {err}");
    };

    refused(
        &["--operation", "sync", "--synchronize-all", "--retain-alias"],
        "--retain-alias only apply to a rotation config, not to a sync config",
    );
    refused(
        &[
            "--operation",
            "cckm_synchronization",
            "--kms",
            "kms",
            "--expiration",
            "30d",
            "--rotate-material",
        ],
        "--expiration, --rotate-material only apply to a rotation config",
    );
    refused(
        &[
            "--operation",
            "sync",
            "--synchronize-all",
            "--expire-in",
            "7d",
        ],
        "--expire-in only apply to a rotation config",
    );
    refused(
        &["--operation", "rotation", "--kms", "kms"],
        "--kms only apply to a sync config, not to a rotation config",
    );
    refused(
        &["--operation", "cckm_key_rotation", "--synchronize-all"],
        "--synchronize-all only apply to a sync config",
    );
    refused(
        &["--operation", "sync"],
        "a sync config needs --kms NAME_OR_ID (repeat for several) or --synchronize-all",
    );
    // clap's own checks.
    refused(
        &["--operation", "backup"],
        "'backup' is not an operation: give rotation (cckm_key_rotation) or sync (cckm_synchronization)",
    );
    refused(
        &["--operation", "sync", "--kms", "kms", "--synchronize-all"],
        "cannot be used with",
    );
    let (ok, _, err) = cli.run(
        &[
            "scheduler",
            "configs",
            "create",
            "--name",
            "c1",
            "--operation",
            "rotation",
        ],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("--run-at"), "{err}");

    // Right flags: the next step is the login.
    for extra in [
        &[
            "--operation",
            "rotation",
            "--retain-alias",
            "--rotate-material",
            "--expiration",
            "30d",
            "--expire-in",
            "7d",
        ][..],
        &["--operation", "sync", "--kms", "a", "--kms", "b"][..],
        &["--operation", "cckm_synchronization", "--synchronize-all"][..],
    ] {
        let (ok, _, err) = create(extra);
        assert!(!ok);
        assert!(err.contains("not logged in"), "{extra:?}: {err}");
    }
}

#[test]
fn conflicting_rotation_flags_are_refused_by_clap() {
    let cli = Cli::new();
    let refused = |args: &[&str], needle: &str| {
        let (ok, out, err) = cli.run(args, &[]);
        assert!(!ok, "{args:?} succeeded: {out}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("not logged in"), "{args:?}: {err}");
    };
    refused(
        &[
            "aws",
            "keys",
            "rotate",
            "k1",
            "--disable-encrypt",
            "--disable-encrypt-on-all-accounts",
        ],
        "cannot be used with",
    );
    refused(
        &[
            "aws",
            "keys",
            "rotate",
            "k1",
            "--valid-to",
            "2030-01-01T00:00:00Z",
            "--expires-in",
            "30d",
        ],
        "cannot be used with",
    );
    refused(
        &["aws", "keys", "rotate", "k1", "--source-key-tier", "dsm"],
        "invalid value 'dsm'",
    );
    refused(
        &[
            "aws",
            "keys",
            "enable-rotation-job",
            "k1",
            "--job-config",
            "c1",
            "--disable-encrypt",
            "--disable-encrypt-on-all-accounts",
        ],
        "cannot be used with",
    );
    refused(
        &["aws", "keys", "enable-rotation-job", "k1"],
        "--job-config",
    );
    refused(
        &[
            "aws",
            "keys",
            "enable-rotation-job",
            "k1",
            "--job-config",
            "c1",
            "--key-source",
            "cloudhsm",
        ],
        "invalid value 'cloudhsm'",
    );
    refused(&["scheduler", "configs", "run"], "<ID_OR_NAME>");
    refused(&["scheduler", "runs", "get"], "<RUN_ID>");
}

// --- the server as it is now (job configs) ---------------------------------------------

#[tokio::test]
async fn job_configs_through_the_cli() {
    let server = Server::start();
    let cli = Cli::login(&server);
    let rot = unique("rot");
    let sync = unique("sync");

    // Create: a table of the config's fields.
    let out = cli.sched(&create_args(
        &rot,
        "rotation",
        "0 9 * * sat",
        &[
            "--description",
            "weekly",
            "--start-date",
            "2025-01-01T00:00:00Z",
            "--end-date",
            "2030-01-01T00:00:00Z",
            "--expiration",
            "30d",
            "--expire-in",
            "12h",
            "--retain-alias",
        ],
    ));
    assert_eq!(row(&out, "name"), rot, "{out}");
    assert_eq!(row(&out, "operation"), "cckm_key_rotation", "{out}");
    assert_eq!(row(&out, "run_at"), "0 9 * * sat", "{out}");
    assert_eq!(row(&out, "description"), "weekly", "{out}");
    assert_eq!(row(&out, "disabled"), "false", "{out}");
    assert_eq!(row(&out, "start_date"), "2025-01-01T00:00:00Z", "{out}");
    assert_eq!(row(&out, "end_date"), "2030-01-01T00:00:00Z", "{out}");
    assert_eq!(row(&out, "expiration"), "30d", "{out}");
    assert_eq!(row(&out, "expire_in"), "12h", "{out}");
    assert_eq!(row(&out, "retain_alias"), "true", "{out}");
    assert_eq!(row(&out, "rotate_material"), "false", "{out}");
    let rot_id = row(&out, "id").to_string();

    // --json is the server's record; only the params of the operation are sent.
    let c = cli.sched_json(&create_args(
        &sync,
        "sync",
        "*/15 * * * *",
        &["--synchronize-all", "--disabled"],
    ));
    assert_eq!(c["operation"], "cckm_synchronization", "{c}");
    assert_eq!(c["disabled"], true, "{c}");
    assert_eq!(c["run_at"], "*/15 * * * *", "{c}");
    assert_eq!(c["cckm_synchronization_params"]["synchronize_all"], true);
    assert_eq!(c["cckm_synchronization_params"]["cloud_name"], "aws");
    assert!(c.get("cckm_key_rotation_params").is_none(), "{c}");
    let sync_id = id_of(&c);

    // The server's refusals: its message and a non-zero exit.
    let err = cli.sched_fail(&create_args(&unique("bad"), "rotation", "every day", &[]));
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("run_at"), "{err}");
    assert!(err.contains("400"), "{err}");
    let err = cli.sched_fail(&create_args(&rot, "rotation", "0 9 * * sat", &[]));
    assert!(err.contains("already exists"), "{err}");
    assert!(err.contains("409"), "{err}");
    let err = cli.sched_fail(&create_args(
        &unique("bad"),
        "sync",
        "0 9 * * sat",
        &["--kms", "no-such-container"],
    ));
    assert!(err.contains("no-such-container"), "{err}");

    // List: the columns, one row per config.
    let out = cli.sched(&["configs", "list"]);
    for column in ["ID", "NAME", "OPERATION", "RUN AT", "DISABLED"] {
        assert!(out.contains(column), "no column {column}: {out}");
    }
    assert_eq!(
        table_row(&out, &rot_id),
        vec![rot_id.as_str(), &rot, "rotation", "0 9 * * sat", "false"],
        "{out}"
    );
    assert_eq!(
        table_row(&out, &sync_id),
        vec![sync_id.as_str(), &sync, "sync", "*/15 * * * *", "true"],
        "{out}"
    );
    assert!(out.contains("2 of 2"), "{out}");
    let listed = cli.sched_json(&["configs", "list"]);
    assert_eq!(listed["total"], 2, "{listed}");
    assert_eq!(listed["resources"].as_array().unwrap().len(), 2, "{listed}");

    // Get, by id or by name.
    let by_id = cli.sched_json(&["configs", "get", &rot_id]);
    let by_name = cli.sched_json(&["configs", "get", &rot]);
    assert_eq!(by_id, by_name);
    assert_eq!(
        by_id["cckm_key_rotation_params"]["aws_param"]["retain_alias"],
        true
    );
    let out = cli.sched(&["configs", "get", &sync]);
    assert_eq!(row(&out, "synchronize_all"), "true", "{out}");
    let err = cli.sched_fail(&["configs", "get", "no-such-config"]);
    assert!(err.contains("404"), "{err}");

    // Delete, by name or by id.
    let out = cli.sched(&["configs", "delete", &rot]);
    assert!(out.contains("deleted"), "{out}");
    let err = cli.sched_fail(&["configs", "get", &rot_id]);
    assert!(err.contains("404"), "{err}");
    let done = cli.sched_json(&["configs", "delete", &sync_id]);
    assert_eq!(done["status"], "ok", "{done}");
    let listed = cli.sched_json(&["configs", "list"]);
    assert_eq!(listed["total"], 0, "{listed}");
    let err = cli.sched_fail(&["configs", "delete", &sync_id]);
    assert!(err.contains("404"), "{err}");
}

/// Needs LocalStack's KMS.
#[tokio::test]
async fn attach_and_detach_a_rotation_job() {
    let (_server, cli) = start_with_container().await;
    let config = rotation_config(&cli, &unique("rot"));
    let config_id = id_of(&config);
    let sync = cli.sched_json(&create_args(
        &unique("sync"),
        "sync",
        "0 * * * *",
        &["--kms", "kms"],
    ));
    // The container is stored by its id, not its name.
    let kms = &sync["cckm_synchronization_params"]["kms"];
    assert!(kms[0].is_string() && kms[0] != "kms", "{sync}");
    let alias = unique("cli-job");
    let key = create_key(&cli, &alias);
    let id = id_of(&key);

    // Attach by the config's name (and the key by its alias): the table shows the job.
    let out = cli.keys(&[
        "enable-rotation-job",
        &format!("alias/{alias}"),
        "--job-config",
        config["name"].as_str().unwrap(),
        "--disable-encrypt",
    ]);
    assert_eq!(row(&out, "id"), id, "{out}");
    assert_eq!(row(&out, "job_config_id"), config_id, "{out}");
    let k = cli.keys_json(&["get", &id]);
    assert_eq!(k["job_config_id"], config_id.as_str(), "{k}");
    assert_eq!(k["auto_rotate_key_source"], "local", "{k}");
    assert_eq!(k["auto_rotate_disable_encrypt"], true, "{k}");
    assert_eq!(
        k["auto_rotate_disable_encrypt_on_all_accounts"], false,
        "{k}"
    );
    let k = cli.keys_json(&[
        "enable-rotation-job",
        &id,
        "--job-config",
        &config_id,
        "--key-source",
        "local",
        "--disable-encrypt-on-all-accounts",
    ]);
    assert_eq!(k["auto_rotate_disable_encrypt"], false, "{k}");
    assert_eq!(
        k["auto_rotate_disable_encrypt_on_all_accounts"], true,
        "{k}"
    );

    // A sync config is not a rotation job; an attached config cannot be deleted.
    let err = cli.keys_fail(&[
        "enable-rotation-job",
        &id,
        "--job-config",
        sync["name"].as_str().unwrap(),
    ]);
    assert!(err.contains("cckm_key_rotation"), "{err}");
    let err = cli.sched_fail(&["configs", "delete", &config_id]);
    assert!(err.contains("disable-rotation-job"), "{err}");
    assert!(err.contains("409"), "{err}");

    // Detach: the job is gone from the record and the config can go.
    let out = cli.keys(&["disable-rotation-job", &id]);
    assert!(!out.lines().any(|l| l.contains("job_config_id")), "{out}");
    let k = cli.keys_json(&["get", &id]);
    assert!(k.get("job_config_id").is_none(), "{k}");
    cli.sched(&["configs", "delete", &config_id]);
}

// --- NEEDS THE SERVER SIDE OF RUNS/ROTATE -------------------------------------------------

/// NEEDS THE SERVER SIDE OF RUNS: a rotation config with no attached keys runs by hand,
/// completes with no results, and its runs are listed.
#[tokio::test]
async fn run_a_rotation_config_with_no_keys() {
    let server = Server::start();
    let cli = Cli::login(&server);
    let name = unique("rot");
    let config = rotation_config(&cli, &name);
    let config_id = id_of(&config);

    // --wait follows the run to its end: a table of the run.
    let out = cli.sched(&["configs", "run", &name, "--wait"]);
    assert_eq!(row(&out, "status"), "completed", "{out}");
    assert_eq!(row(&out, "trigger"), "manual", "{out}");
    assert_eq!(row(&out, "operation"), "cckm_key_rotation", "{out}");
    assert_eq!(
        row(&out, "config"),
        format!("{name} ({config_id})"),
        "{out}"
    );
    assert_eq!(row(&out, "keys"), "none", "{out}");
    assert!(!row(&out, "finished_at").is_empty(), "{out}");
    let first = row(&out, "id").to_string();

    let run = cli.sched_json(&["configs", "run", &config_id, "--wait"]);
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["trigger"], "manual", "{run}");
    assert_eq!(run["job_config_id"], config_id.as_str(), "{run}");
    assert_eq!(run["job_config_name"], name.as_str(), "{run}");
    assert_eq!(run["results"], json!([]), "{run}");
    assert!(run["finished_at"].is_string(), "{run}");
    let second = id_of(&run);
    assert_ne!(first, second);

    // Without --wait: the run as the server started it.
    let started = cli.sched_json(&["configs", "run", &name]);
    let status = started["status"].as_str().unwrap();
    assert!(status == "running" || status == "completed", "{started}");
    let third = id_of(&started);

    // Runs of the config, newest first; by name or by id.
    let out = cli.sched(&["runs", "list", "--config", &name]);
    for column in [
        "ID", "CONFIG", "TRIGGER", "STATUS", "STARTED", "FINISHED", "KEYS",
    ] {
        assert!(out.contains(column), "no column {column}: {out}");
    }
    let cells = table_row(&out, &first);
    assert_eq!(cells[1], name, "{out}");
    assert_eq!(cells[2], "manual", "{out}");
    assert_eq!(cells[3], "completed", "{out}");
    assert_eq!(cells[6], "none", "{out}");
    let listed = cli.sched_json(&["runs", "list", "--config", &config_id]);
    assert_eq!(listed["total"], 3, "{listed}");
    let ids: Vec<&str> = listed["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{listed}");
    for id in [&first, &second, &third] {
        assert!(ids.contains(&id.as_str()), "{id} not in {listed}");
    }

    // Another config's runs are not listed under this one.
    let other = rotation_config(&cli, &unique("other"));
    cli.sched_json(&["configs", "run", other["name"].as_str().unwrap(), "--wait"]);
    let listed = cli.sched_json(&["runs", "list", "--config", &name]);
    assert_eq!(listed["total"], 3, "{listed}");
    let all = cli.sched_json(&["runs", "list"]);
    assert_eq!(all["total"], 4, "{all}");

    // One run.
    let got = cli.sched_json(&["runs", "get", &second]);
    assert_eq!(got["id"], run["id"], "{got}");
    assert_eq!(got["status"], "completed", "{got}");
    assert_eq!(got["results"], json!([]), "{got}");
    let out = cli.sched(&["runs", "get", &first]);
    assert_eq!(row(&out, "id"), first, "{out}");
    let err = cli.sched_fail(&["runs", "get", "no-such-run"]);
    assert!(err.contains("404"), "{err}");
    let err = cli.sched_fail(&["configs", "run", "no-such-config"]);
    assert!(err.contains("404"), "{err}");
}

/// NEEDS THE SERVER SIDE OF RUNS, and LocalStack's KMS: a sync config's run runs an
/// inventory synchronisation.
#[tokio::test]
async fn run_a_sync_config() {
    let (_server, cli) = start_with_container().await;
    let name = unique("sync");
    cli.sched(&create_args(&name, "sync", "0 3 * * *", &["--kms", "kms"]));
    let out = cli.sched(&["configs", "run", &name, "--wait"]);
    assert_eq!(row(&out, "status"), "completed", "{out}");
    assert_eq!(row(&out, "operation"), "cckm_synchronization", "{out}");
    assert!(!row(&out, "sync_job_id").is_empty(), "{out}");
}

/// NEEDS THE SERVER SIDE OF ROTATE, and LocalStack's KMS.
#[tokio::test]
async fn rotate_a_key_through_the_cli() {
    let (_server, cli) = start_with_container().await;
    let alias = unique("cli-rotate");
    let old = id_of(&create_key(&cli, &alias));

    // The new key's table, and which key replaced which.
    let out = cli.keys(&[
        "rotate",
        &format!("alias/{alias}"),
        "--retain-alias",
        "--description",
        "rotated by the CLI",
    ]);
    let new = row(&out, "id").to_string();
    assert_ne!(new, old, "{out}");
    assert!(out.contains(&format!("rotated {old} -> {new}")), "{out}");
    assert_eq!(row(&out, "rotated_from"), old, "{out}");
    assert_eq!(row(&out, "alias"), format!("alias/{alias}"), "{out}");
    assert_eq!(row(&out, "Description"), "rotated by the CLI", "{out}");
    assert_eq!(row(&out, "KeyState"), "Enabled", "{out}");

    // The old key: replaced, still enabled, with a timestamped alias.
    let k = cli.keys_json(&["get", &old]);
    assert_eq!(k["rotated_to"], new.as_str(), "{k}");
    assert!(k["rotated_at"].is_string(), "{k}");
    assert_eq!(k["aws_param"]["KeyState"], "Enabled", "{k}");
    let kept = aliases(&k);
    assert_eq!(kept.len(), 1, "{k}");
    assert!(
        kept[0].starts_with(&format!("alias/{alias}-rotated-")),
        "{k}"
    );
    let out = cli.keys(&["get", &old]);
    assert_eq!(row(&out, "rotated_to"), new, "{out}");

    // Its rotations: a table, and the server's records with --json.
    let out = cli.keys(&["rotations", &old]);
    for column in ["ID", "TYPE", "STATUS", "FROM", "TO", "AT"] {
        assert!(out.contains(column), "no column {column}: {out}");
    }
    let listed = cli.keys_json(&["rotations", &old]);
    assert_eq!(listed["total"], 1, "{listed}");
    let r = &listed["resources"][0];
    assert_eq!(r["rotated_from"], old.as_str(), "{r}");
    assert_eq!(r["rotated_to"], new.as_str(), "{r}");
    assert_eq!(r["rotation_type"], "new_key", "{r}");
    assert_eq!(r["status"], "completed", "{r}");
    let cells = table_row(&out, r["id"].as_str().unwrap());
    assert_eq!(
        cells[1..5],
        [
            "new_key".to_string(),
            "completed".to_string(),
            old.clone(),
            new.clone()
        ],
        "{out}"
    );
    assert!(!cells[5].is_empty(), "{out}");
    // The new key took part in it too.
    let listed = cli.keys_json(&["rotations", &new]);
    assert_eq!(listed["total"], 1, "{listed}");

    // A replaced key is not rotated again; the alias now names the new key.
    let err = cli.keys_fail(&["rotate", &old]);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(&new), "the refusal names the new key: {err}");
    let k = cli.keys_json(&["rotate", &format!("alias/{alias}"), "--disable-encrypt"]);
    assert_eq!(k["rotated_from"], new.as_str(), "{k}");
    assert_eq!(aliases(&k), vec![format!("alias/{alias}")], "{k}");
    let listed = cli.keys_json(&["rotations", &new]);
    assert_eq!(listed["total"], 2, "{listed}");

    // Refused by the server: its message.
    let err = cli.keys_fail(&["rotate", "no-such-key"]);
    assert!(err.contains("404"), "{err}");
}

/// NEEDS THE SERVER SIDE OF RUNS AND ROTATE, and LocalStack's KMS: a run of a rotation
/// config rotates the keys attached to it.
#[tokio::test]
async fn a_rotation_run_rotates_the_attached_keys() {
    let (_server, cli) = start_with_container().await;
    let name = unique("rot");
    let config = rotation_config(&cli, &name);
    let alias = unique("cli-run");
    let old = id_of(&create_key(&cli, &alias));
    cli.keys(&["enable-rotation-job", &old, "--job-config", &name]);

    let run = cli.sched_json(&["configs", "run", &name, "--wait"]);
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["job_config_id"], config["id"], "{run}");
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{run}");
    assert_eq!(results[0]["key_id"], old.as_str(), "{run}");
    assert_eq!(results[0]["status"], "rotated", "{run}");
    let new = results[0]["new_key_id"].as_str().unwrap().to_string();

    let k = cli.keys_json(&["get", &old]);
    assert_eq!(k["rotated_to"], new.as_str(), "{k}");
    let listed = cli.keys_json(&["rotations", &old]);
    assert_eq!(listed["resources"][0]["job_run_id"], run["id"], "{listed}");

    // The runs table counts the keys.
    let out = cli.sched(&["runs", "list", "--config", &name]);
    let cells = table_row(&out, run["id"].as_str().unwrap());
    assert_eq!(cells[6], "1 rotated", "{out}");
    let out = cli.sched(&["runs", "get", run["id"].as_str().unwrap()]);
    assert_eq!(row(&out, "keys"), "1 rotated", "{out}");
    assert!(out.contains(&new), "{out}");
}

/// NEEDS THE SERVER SIDE OF RUNS AND ROTATE, and LocalStack's KMS: when a key of a run fails,
/// `configs run --wait` shows the run and exits non-zero naming that key.
#[tokio::test]
async fn a_run_with_a_failed_key_exits_non_zero() {
    let (_server, cli) = start_with_container().await;
    let name = unique("rot");
    rotation_config(&cli, &name);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let k = create_key(&cli, &unique("cli-fail"));
        let id = id_of(&k);
        cli.keys(&["enable-rotation-job", &id, "--job-config", &name]);
        ids.push(id);
    }
    let (fine, doomed) = (&ids[0], &ids[1]);
    // A key pending deletion is not rotated.
    cli.keys(&["schedule-deletion", doomed, "--days", "7"]);

    let (ok, out, err) = cli.run(&["scheduler", "configs", "run", &name, "--wait"], &[]);
    assert!(!ok, "{out}");
    assert_eq!(row(&out, "status"), "completed_with_errors", "{out}");
    assert_eq!(row(&out, "keys"), "1 rotated, 1 failed", "{out}");
    let cells = table_row(&out, doomed);
    assert_eq!(cells[1], "failed", "{out}");
    assert!(err.starts_with("error: job run "), "{err}");
    assert!(err.contains("completed_with_errors"), "{err}");
    let failed = err
        .split_once("failed keys: ")
        .unwrap_or_else(|| panic!("no failed keys in {err}"))
        .1;
    assert!(failed.starts_with(doomed.as_str()), "{err}");
    assert!(!failed.contains(fine.as_str()), "{err}");

    // --json: the run, and the same verdict.
    let (ok, out, err) = cli.run(
        &["--json", "scheduler", "configs", "run", &name, "--wait"],
        &[],
    );
    assert!(!ok, "{out}");
    let run: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(run["status"], "completed_with_errors", "{run}");
    assert!(err.contains(doomed.as_str()), "{err}");
}

/// NEEDS THE SERVER SIDE OF ROTATE, and LocalStack's KMS: a BYOK key rotates to a new
/// EXTERNAL key with new material from the vault and the expiry asked for.
#[tokio::test]
async fn rotate_a_byok_key_with_an_expiry() {
    let (_server, cli) = start_with_container().await;
    let old = id_of(&cli.keys_json(&[
        "upload",
        "--kms",
        "kms",
        "--region",
        "ap-south-1",
        "--alias",
        &unique("cli-byok-rot"),
        "--expires-in",
        "90d",
    ]));
    let k = cli.keys_json(&[
        "rotate",
        &old,
        "--source-key-tier",
        "local",
        "--expires-in",
        "30d",
        "--disable-encrypt-on-all-accounts",
    ]);
    assert_eq!(k["rotated_from"], old.as_str(), "{k}");
    assert_eq!(k["aws_param"]["Origin"], "EXTERNAL", "{k}");
    let valid_to = days_from_now(&k["aws_param"]["ValidTo"]);
    assert!((29..=30).contains(&valid_to), "{k}");
    let listed = cli.keys_json(&["rotations", &old]);
    assert_eq!(
        listed["resources"][0]["source_key_tier"], "local",
        "{listed}"
    );
    assert_eq!(listed["resources"][0]["status"], "completed", "{listed}");
}

/// Whole days from now to an RFC 3339 time.
fn days_from_now(v: &Value) -> i64 {
    let t = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    let t = chrono::DateTime::parse_from_rfc3339(t).unwrap();
    (t.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days()
}
