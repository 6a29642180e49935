//! A throwaway PostgreSQL cluster for tests: initdb in a temporary
//! directory, a free port on 127.0.0.1 and a socket in the same directory,
//! stopped and removed when dropped. Root cannot run PostgreSQL, so as root
//! the server runs as `postgres`.

use std::io::Write;
use std::process::{Command, Stdio};

pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

pub struct Cluster {
    dir: tempfile::TempDir,
    pub port: u16,
}

/// `program` as the user that may run PostgreSQL.
pub fn as_pg(program: &str) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", program]);
        c
    } else {
        Command::new(program)
    }
}

impl Cluster {
    /// A running cluster whose connections need no password, or why there is none.
    pub fn start() -> Result<Cluster, String> {
        Cluster::start_with(None)
    }

    /// A running cluster where connections over TCP must give `password`
    /// for the user `postgres` (SCRAM); the socket still trusts.
    pub fn start_with_password(password: &str) -> Result<Cluster, String> {
        Cluster::start_with(Some(password))
    }

    fn start_with(password: Option<&str>) -> Result<Cluster, String> {
        if !std::path::Path::new(&format!("{PG_BIN}/initdb")).exists() {
            return Err(format!(
                "{PG_BIN}/initdb not found (apt-get install postgresql-15-postgis-3 postgresql-15-pgrouting)"
            ));
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        // The server (perhaps another user) writes its data and socket here.
        let _ = Command::new("chown")
            .args(["-R", "postgres", dir.path().to_str().unwrap()])
            .status();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let data = dir.path().join("db");
        let host_auth = if password.is_some() {
            "--auth-host=scram-sha-256"
        } else {
            "--auth-host=trust"
        };
        let out = as_pg(&format!("{PG_BIN}/initdb"))
            .args([
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth-local=trust",
                host_auth,
                "-E",
                "UTF8",
            ])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("initdb: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let cluster = Cluster { dir, port };
        // fsync off: a test kills processes, never the machine, and the
        // disk is shared with other builds.
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            cluster.dir.path().display()
        );
        let out = as_pg(&format!("{PG_BIN}/pg_ctl"))
            .args(["-D", data.to_str().unwrap(), "-o", &options, "-w", "-l"])
            .arg(cluster.dir.path().join("log"))
            .arg("start")
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            let log = std::fs::read_to_string(cluster.dir.path().join("log")).unwrap_or_default();
            return Err(format!(
                "pg_ctl start: {}{log}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        if let Some(p) = password {
            cluster.psql(&format!("ALTER USER postgres PASSWORD '{p}';"));
        }
        Ok(cluster)
    }

    /// Stops the cluster and removes its directory when this process ends,
    /// however it ends, for a cluster held in a `static` (never dropped):
    /// a watchdog waits for its stdin, which closes with the process.
    pub fn stop_when_this_process_ends(&self) {
        let dir = self.dir.path().display().to_string();
        let script = format!(
            "cat >/dev/null; {PG_BIN}/pg_ctl -D '{dir}/db' -m immediate -w stop >/dev/null 2>&1; rm -rf '{dir}'"
        );
        // Never waited for: it outlives this process by design.
        #[allow(clippy::zombie_processes)]
        let mut watchdog = as_pg("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the cluster's watchdog");
        // Held open until the process exits.
        std::mem::forget(watchdog.stdin.take());
    }

    /// `postgres://postgres@127.0.0.1:<port>/<db>`: TCP, no password in it.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// A new, empty database.
    pub fn create_database(&self, name: &str) {
        self.psql(&format!("CREATE DATABASE \"{name}\";"));
    }

    /// Runs SQL with psql in the database `postgres` (input on stdin),
    /// returning unaligned rows.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_in("postgres", sql)
    }

    /// A psql session in `db` reading SQL from its stdin as it is written
    /// (to hold a lock while something else runs); output is discarded.
    pub fn session(&self, db: &str) -> std::process::Child {
        self.psql_command(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("psql")
    }

    fn psql_command(&self, db: &str) -> Command {
        let mut c = Command::new("psql");
        c.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            "postgres",
            "-d",
            db,
        ])
        .args([
            "-h",
            self.dir.path().to_str().unwrap(),
            "-p",
            &self.port.to_string(),
        ]);
        c
    }

    /// Runs SQL with psql in `db` over the socket, returning unaligned rows.
    pub fn psql_in(&self, db: &str, sql: &str) -> String {
        let mut child = self
            .psql_command(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("psql");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(sql.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_pg(&format!("{PG_BIN}/pg_ctl"))
            .args([
                "-D",
                self.dir.path().join("db").to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .output();
    }
}
