#!/usr/bin/env bash
# /usr/local/bin/docker-entrypoint.sh of caas/wordpress:6-local (also tagged
# wordpress:6-apache), the local look-alike of the official
# `wordpress:6-apache` image that scripts/test-env.sh derives from
# caas/debian-web:bookworm (Debian's WordPress 6.1, Apache and mod_php; no
# registry).
#
# Same environment as the official image:
#   WORDPRESS_DB_HOST        database host or host:port (default mysql)
#   WORDPRESS_DB_USER        database user (default "example username")
#   WORDPRESS_DB_PASSWORD    its password (default "example password")
#   WORDPRESS_DB_NAME        database (default wordpress)
#   WORDPRESS_DB_CHARSET     (default utf8), WORDPRESS_DB_COLLATE (default "")
#   WORDPRESS_TABLE_PREFIX   (default wp_)
#   WORDPRESS_AUTH_KEY, WORDPRESS_SECURE_AUTH_KEY, WORDPRESS_LOGGED_IN_KEY,
#   WORDPRESS_NONCE_KEY, WORDPRESS_AUTH_SALT, WORDPRESS_SECURE_AUTH_SALT,
#   WORDPRESS_LOGGED_IN_SALT, WORDPRESS_NONCE_SALT
#                            keys and salts; each one absent is random,
#                            generated once and kept in /var/www/html/.wp-salts
#                            (the image's volume), so logins survive restarts
#   WORDPRESS_DEBUG          non-empty (and not 0): WP_DEBUG on
#   WORDPRESS_CONFIG_EXTRA   PHP code appended to the configuration
#   *_FILE                   read any of the values above from a file
# With Debian's layout: the code is /usr/share/wordpress (read-only, served at
# /), the settings are /etc/wordpress/config-default.php (written here at
# every start from the environment; Debian's wp-config.php loads it for any
# host name), and wp-content is /var/www/html/wp-content (served at
# /wp-content; the image's VOLUME is /var/www/html as in the official image,
# so uploads, plugins and themes persist in it; Debian's bundled theme and
# plugin are linked in on every start when missing).
#
# `apache2-foreground` (the default command) runs Apache in the foreground on
# port 80 as PID 1, as root like the official image (its children run as
# www-data), logging to stdout/stderr; the image's stop signal is SIGWINCH
# (graceful stop). Anything else is run as given (e.g. `bash`, `php`).
set -Eeuo pipefail

CONTENT_DIR=/var/www/html/wp-content
SEED_CONTENT_DIR=/var/lib/wordpress/wp-content
SALTS_FILE=/var/www/html/.wp-salts
CONFIG=/etc/wordpress/config-default.php
SALT_NAMES=(AUTH_KEY SECURE_AUTH_KEY LOGGED_IN_KEY NONCE_KEY AUTH_SALT SECURE_AUTH_SALT
    LOGGED_IN_SALT NONCE_SALT)

log() { echo "docker-entrypoint: $*" >&2; }
die() {
    echo "docker-entrypoint: error: $*" >&2
    exit 1
}

# file_env VAR [DEFAULT]: VAR from the environment, or from the file named by
# VAR_FILE, or DEFAULT; exported, VAR_FILE unset.
file_env() {
    local var=$1 file_var=${1}_FILE def=${2:-} val
    if [[ -n "${!var:-}" && -n "${!file_var:-}" ]]; then
        die "both $var and $file_var are set (but are exclusive)"
    fi
    val=$def
    if [[ -n "${!var:-}" ]]; then
        val=${!var}
    elif [[ -n "${!file_var:-}" ]]; then
        val=$(<"${!file_var}")
    fi
    export "$var=$val"
    unset "$file_var"
}

# The contents of a PHP single-quoted string literal.
php_str() {
    local s=${1//\\/\\\\}
    printf '%s' "${s//\'/\\\'}"
}

random_secret() {
    local s
    s=$(head -c 1024 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9')
    printf '%s' "${s:0:64}"
}

# Keys and salts not given: from the salts file, else new ones, saved there.
# The file is parsed, never sourced (wp-content's owner could replace it).
fill_salts() {
    local name var line k v changed=0
    declare -A saved=()
    if [[ -r "$SALTS_FILE" ]]; then
        while IFS= read -r line; do
            k=${line%%=*}
            v=${line#*=}
            [[ "$k" =~ ^[A-Z_]+$ && "$v" =~ ^[A-Za-z0-9]{32,128}$ ]] && saved[$k]=$v
        done <"$SALTS_FILE"
    fi
    for name in "${SALT_NAMES[@]}"; do
        var=WORDPRESS_$name
        [[ -n "${!var}" ]] && continue
        if [[ -z "${saved[$name]:-}" ]]; then
            saved[$name]=$(random_secret)
            changed=1
        fi
        export "$var=${saved[$name]}"
    done
    if ((changed)); then
        if (
            umask 0077
            for name in "${!saved[@]}"; do printf '%s=%s\n' "$name" "${saved[$name]}"; done \
                >"$SALTS_FILE.tmp" && mv -f "$SALTS_FILE.tmp" "$SALTS_FILE"
        ) 2>/dev/null; then
            log "generated missing keys/salts, kept in $SALTS_FILE"
        else
            log "generated missing keys/salts; cannot keep them in $SALTS_FILE (logins end on restart)"
        fi
    fi
}

# wp-content in the volume: what Debian ships (bundled theme and plugin links,
# languages, uploads) where missing, owned by the web server's user.
prepare_content() {
    mkdir -p "$CONTENT_DIR"
    cp -an "$SEED_CONTENT_DIR/." "$CONTENT_DIR/"
    if [[ "$(id -u)" == 0 ]]; then
        find "$CONTENT_DIR" \! -user www-data -exec chown -h www-data:www-data '{}' +
    fi
}

write_config() {
    local name var debug=false
    [[ -n "$WORDPRESS_DEBUG" && "$WORDPRESS_DEBUG" != 0 ]] && debug=true
    [[ -w "${CONFIG%/*}" ]] || die "${CONFIG%/*} is not writable by uid $(id -u)"
    {
        echo "<?php"
        echo "// Written by docker-entrypoint.sh at start-up from the WORDPRESS_* environment;"
        echo "// loaded by Debian's /usr/share/wordpress/wp-config.php for any host name."
        echo "define('DB_NAME', '$(php_str "$WORDPRESS_DB_NAME")');"
        echo "define('DB_USER', '$(php_str "$WORDPRESS_DB_USER")');"
        echo "define('DB_PASSWORD', '$(php_str "$WORDPRESS_DB_PASSWORD")');"
        echo "define('DB_HOST', '$(php_str "$WORDPRESS_DB_HOST")');"
        echo "define('DB_CHARSET', '$(php_str "$WORDPRESS_DB_CHARSET")');"
        echo "define('DB_COLLATE', '$(php_str "$WORDPRESS_DB_COLLATE")');"
        for name in "${SALT_NAMES[@]}"; do
            var=WORDPRESS_$name
            echo "define('$name', '$(php_str "${!var}")');"
        done
        echo "\$table_prefix = '$(php_str "$WORDPRESS_TABLE_PREFIX")';"
        echo "define('WP_DEBUG', $debug);"
        echo "define('WP_CONTENT_DIR', '$CONTENT_DIR');"
        echo "// Behind a TLS-terminating proxy (as in the official image)."
        echo "if (isset(\$_SERVER['HTTP_X_FORWARDED_PROTO']) && strpos(\$_SERVER['HTTP_X_FORWARDED_PROTO'], 'https') !== false) {"
        echo "    \$_SERVER['HTTPS'] = 'on';"
        echo "}"
        if [[ -n "$WORDPRESS_CONFIG_EXTRA" ]]; then
            echo "// WORDPRESS_CONFIG_EXTRA"
            printf '%s\n' "$WORDPRESS_CONFIG_EXTRA"
        fi
    } >"$CONFIG.tmp"
    if [[ "$(id -u)" == 0 ]]; then
        chown root:www-data "$CONFIG.tmp"
        chmod 0640 "$CONFIG.tmp"
    fi
    mv -f "$CONFIG.tmp" "$CONFIG"
    log "wrote $CONFIG (database $WORDPRESS_DB_NAME on $WORDPRESS_DB_HOST as $WORDPRESS_DB_USER)"
}

if [[ "${1:-}" == apache2* ]]; then
    file_env WORDPRESS_DB_HOST mysql
    file_env WORDPRESS_DB_USER 'example username'
    file_env WORDPRESS_DB_PASSWORD 'example password'
    file_env WORDPRESS_DB_NAME wordpress
    file_env WORDPRESS_DB_CHARSET utf8
    file_env WORDPRESS_DB_COLLATE
    file_env WORDPRESS_TABLE_PREFIX wp_
    file_env WORDPRESS_DEBUG
    file_env WORDPRESS_CONFIG_EXTRA
    for salt in "${SALT_NAMES[@]}"; do file_env "WORDPRESS_$salt"; done
    prepare_content
    fill_salts
    write_config
fi

exec "$@"
