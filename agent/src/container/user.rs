//! `-u` as docker reads it: `name`, `uid`, `name:group`, `uid:gid`; names
//! and supplementary groups come from the container's own /etc/passwd and
//! /etc/group (read after pivot_root, so the image's files, not ours).

#[derive(Debug, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub home: String,
}

fn entries(path: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').map(str::to_string).collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .collect()
}

/// Resolves `user` against passwd and group file contents.
pub fn resolve(
    user: &str,
    passwd: &[Vec<String>],
    group: &[Vec<String>],
) -> Result<Identity, String> {
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let by_name = passwd.iter().find(|f| f[0] == user_part);
    let by_uid = || passwd.iter().find(|f| f[2] == user_part);
    let (uid, mut gid, name, home) = match (by_name, user_part.parse::<u32>()) {
        (Some(f), _) => (
            parse(&f[2])?,
            parse(&f[3])?,
            Some(f[0].clone()),
            f.get(5).cloned(),
        ),
        (None, Ok(uid)) => match by_uid() {
            Some(f) => (uid, parse(&f[3])?, Some(f[0].clone()), f.get(5).cloned()),
            // A bare uid need not exist in the image, as with docker.
            None => (uid, 0, None, None),
        },
        (None, Err(_)) => {
            return Err(format!(
                "unable to find user {user_part}: no matching entries in passwd file"
            ))
        }
    };
    if let Some(g) = group_part {
        gid = match (group.iter().find(|f| f[0] == g), g.parse::<u32>()) {
            (Some(f), _) => parse(&f[2])?,
            (None, Ok(n)) => n,
            (None, Err(_)) => {
                return Err(format!(
                    "unable to find group {g}: no matching entries in group file"
                ))
            }
        };
    }
    let mut groups = vec![gid];
    if let Some(name) = &name {
        for f in group {
            if f[3].split(',').any(|member| member == name) {
                if let Ok(g) = parse(&f[2]) {
                    if !groups.contains(&g) {
                        groups.push(g);
                    }
                }
            }
        }
    }
    Ok(Identity {
        uid,
        gid,
        groups,
        home: home.unwrap_or_else(|| if uid == 0 { "/root".into() } else { "/".into() }),
    })
}

fn parse(n: &str) -> Result<u32, String> {
    n.parse()
        .map_err(|_| format!("bad id {n:?} in the passwd or group file"))
}

/// Resolves `user` in the root we are in now.
pub fn resolve_here(user: &str) -> Result<Identity, String> {
    resolve(user, &entries("/etc/passwd"), &entries("/etc/group"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Vec<Vec<String>> {
        text.lines()
            .map(|l| l.split(':').map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn users_resolve_like_docker() {
        let passwd = table("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000::/home/app:/bin/sh");
        let group = table("root:x:0:\nnogroup:x:65534:\napp:x:1000:\nwheel:x:10:app,root");
        let app = resolve("app", &passwd, &group).unwrap();
        assert_eq!(
            (app.uid, app.gid, app.groups.clone()),
            (1000, 1000, vec![1000, 10])
        );
        assert_eq!(app.home, "/home/app");
        assert_eq!(resolve("1000", &passwd, &group).unwrap(), app);
        let nobody = resolve("nobody", &passwd, &group).unwrap();
        assert_eq!((nobody.uid, nobody.gid), (65534, 65534));
        let odd = resolve("4242:7", &passwd, &group).unwrap();
        assert_eq!((odd.uid, odd.gid, odd.groups), (4242, 7, vec![7]));
        assert_eq!(resolve("app:wheel", &passwd, &group).unwrap().gid, 10);
        assert!(resolve("ghost", &passwd, &group)
            .unwrap_err()
            .contains("unable to find user ghost"));
        assert!(resolve("app:ghosts", &passwd, &group).is_err());
    }
}
