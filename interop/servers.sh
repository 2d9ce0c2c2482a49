#!/usr/bin/env bash
# Real FTP servers on loopback for ftpkit's interop tests.
#
#   interop/servers.sh install            # as root: apt + unpacked debs + venv
#   interop/servers.sh start [NAME...]    # (re)start all or some instances
#   interop/servers.sh stop               # stop every instance it started
#   interop/servers.sh status             # each instance, its port, answers?
#   interop/servers.sh check [NAME...]    # ftplib round trips on each instance
#   interop/servers.sh probe [NAME...]    # transcript of replies (INETUTILS, TWISTED)
#   interop/servers.sh env                # print the env file
#
# See interop/README.md for the env file, ports, layout and quirks.
set -euo pipefail
umask 022
export PATH=$PATH:/usr/sbin:/sbin

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONF_SRC=$HERE/conf

RT=${FTPKIT_INTEROP_DIR:-/tmp/ftpkit-interop}
PREFIX=${FTPKIT_INTEROP_PREFIX:-/opt/ftpkit-interop}
START_TIMEOUT=${FTPKIT_INTEROP_START_TIMEOUT:-30}

FTP_USER=ftpkit
FTP_PASS=ftpkitInterop2024
PAM_SERVICE=ftpkit-interop
HOST=127.0.0.1

PYFTPDLIB_VERSION=2.2.0
PYOPENSSL_VERSION=26.4.0
TWISTED_VERSION=26.10.0

# GNU inetutils ftpd authenticates against /etc/passwd + /etc/shadow and
# chroots into the home of users listed in /etc/ftpchroot: it gets a system
# user of its own, whose home start points at the INETUTILS root, with the
# same password. ftpd also wants the user's shell in /etc/shells: a shell of
# ours that refuses logins (listing /usr/sbin/nologin there would admit every
# nologin system account).
INET_USER=ftpkit-inet

VSFTPD_BIN=/usr/sbin/vsftpd
PROFTPD_DIR=$PREFIX/proftpd
PROFTPD_BIN=$PROFTPD_DIR/usr/sbin/proftpd
PROFTPD_MODULES=$PROFTPD_DIR/usr/lib/proftpd
PUREFTPD_DIR=$PREFIX/pure-ftpd
PUREFTPD_BIN=$PUREFTPD_DIR/usr/sbin/pure-ftpd
PUREPW_BIN=$PUREFTPD_DIR/usr/bin/pure-pw
INETUTILS_DIR=$PREFIX/inetutils
INETUTILS_BIN=$INETUTILS_DIR/usr/sbin/ftpd
INET_SHELL=$PREFIX/ftp-shell
VENV=$PREFIX/venv
# SoftHSM2 (a PKCS#11 token in files) and OpenSC's pkcs11-tool: the token of
# the PKCS#11 client-certificate tests (gen_token).
PKCS11_MODULE=/usr/lib/softhsm/libsofthsm2.so
TOKEN_LABEL=ftpkit-test
TOKEN_PIN=123456
TOKEN_SO_PIN=654321
VENV_IMPORTS="import pyftpdlib, OpenSSL, twisted.protocols.ftp"
STAMP=$PREFIX/installed.stamp

# NAME  server  tls  control-port  passive-min  passive-max
# Control ports 21210-21260, passive ranges 21300-21949 (50 each, disjoint),
# except the two vsftpd instances the load test runs 32 sessions each on:
# 200 ports each from 22000 (see docs/server-quirks.md, "vsftpd passive port
# exhaustion"); all below Linux's ephemeral range (32768-60999).
# INETUTILS has no passive range ("- -"): inetutils ftpd has no option for
# one and binds port 0, so its passive ports are the kernel's ephemeral range
# (what the env file's _PASV says for it).
# PROFTPD_TLS_SHORT is PROFTPD_TLS with a 4 s TLS session lifetime (ticket
# lifetime hint and server-side validity; interop/conf/proftpd-tls-short.conf.in),
# for tests of tickets that expire during a session.
# *CLIENTCERT instances refuse, at the TLS handshake, a client without a
# certificate signed by the test CA (probe_tls presents $PKI/client.pem).
INSTANCES="
VSFTPD                     vsftpd    none      21210 22000 22199
VSFTPD_TLS                 vsftpd    explicit  21211 22200 22399
VSFTPD_IMPLICIT            vsftpd    implicit  21212 21400 21449
VSFTPD_CLIENTCERT          vsftpd    explicit  21213 21450 21499
VSFTPD_IMPLICIT_CLIENTCERT vsftpd    implicit  21214 21850 21899
PROFTPD                    proftpd   none      21220 21500 21549
PROFTPD_TLS                proftpd   explicit  21221 21550 21599
PROFTPD_TLS_SHORT          proftpd   explicit  21222 21300 21349
PROFTPD_CLIENTCERT         proftpd   explicit  21223 21900 21949
PUREFTPD                   pureftpd  none      21230 21600 21649
PUREFTPD_TLS               pureftpd  explicit  21231 21650 21699
PYFTPDLIB                  pyftpdlib none      21240 21700 21749
PYFTPDLIB_TLS              pyftpdlib explicit  21241 21750 21799
INETUTILS                  inetutils none      21250 -     -
TWISTED                    twisted   none      21260 21800 21849
"

PKI=$RT/pki
SOFTHSM=$RT/softhsm
LOGDIR=$RT/logs
RUNDIR=$RT/run
GENCONF=$RT/conf
ROOTS=$RT/roots
ENV_FILE=$RT/env

log() { printf '[servers.sh] %s\n' "$*" >&2; }
die() { printf '[servers.sh] ERROR: %s\n' "$*" >&2; exit 1; }

instance_field() { # NAME FIELDNO -> value
    awk -v n="$1" -v f="$2" '$1 == n { print $f }' <<<"$INSTANCES"
}
all_instances() { awk 'NF { print $1 }' <<<"$INSTANCES"; }
lower() { tr '[:upper:]' '[:lower:]' <<<"$1"; }

instance_user() { # NAME -> the user that logs in to it
    case "$1" in
        INETUTILS) echo "$INET_USER" ;;
        *) echo "$FTP_USER" ;;
    esac
}

# The passive range an instance's data ports come from, "MIN-MAX".
instance_pasv() {
    local lo hi
    lo=$(instance_field "$1" 5)
    hi=$(instance_field "$1" 6)
    if [ "$lo" = - ]; then
        read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
    fi
    echo "$lo-$hi"
}

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (servers drop privileges to user $FTP_USER)"; }

# ---------------------------------------------------------------- install --

install_is_complete() {
    [ -f "$STAMP" ] || return 1
    [ -x "$VSFTPD_BIN" ] && [ -x "$PROFTPD_BIN" ] && [ -f "$PROFTPD_MODULES/mod_tls.so" ] \
        && [ -x "$PUREFTPD_BIN" ] && [ -x "$PUREPW_BIN" ] && [ -x "$INETUTILS_BIN" ] || return 1
    command -v openssl >/dev/null && command -v ss >/dev/null || return 1
    pkcs11_installed || return 1
    "$VENV/bin/python" -c "$VENV_IMPORTS" 2>/dev/null || return 1
    libs_resolve || return 1
    return 0
}

pkcs11_installed() {
    [ -f "$PKCS11_MODULE" ] && command -v softhsm2-util >/dev/null && command -v pkcs11-tool >/dev/null
}

libs_resolve() { # every unpacked binary/module finds its shared libraries
    local f
    for f in "$PROFTPD_BIN" "$PROFTPD_MODULES"/mod_tls.so "$PUREFTPD_BIN" "$PUREPW_BIN" "$INETUTILS_BIN"; do
        if ldd "$f" 2>/dev/null | grep -q 'not found'; then
            return 1
        fi
    done
}

# Shared-library Depends of a .deb (first alternative, no versions). Only
# lib*/zlib*: the other Depends are the conflicting FTP packages themselves
# and packaging glue (openbsd-inetd, lsb-base, ucf, ...) that an unpacked
# binary does not need; openbsd-inetd would even be a service.
deb_runtime_deps() {
    dpkg-deb -f "$1" Depends | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/:any//' \
        | awk 'NF { print $1 }' | grep -E '^(lib|zlib)' || true
}

POLICY_RC=/usr/sbin/policy-rc.d
POLICY_BAK=$POLICY_RC.ftpkit-interop-saved
policy_block() {
    # Debian's maintainer scripts start vsftpd on 0.0.0.0:21 unless this
    # script exits 101. Keep (and later restore) any policy-rc.d already there.
    if [ -e "$POLICY_RC" ] && [ ! -e "$POLICY_BAK" ]; then
        cp -p "$POLICY_RC" "$POLICY_BAK"
    fi
    printf '#!/bin/sh\n# ftpkit interop install: never start services\nexit 101\n' >"$POLICY_RC"
    chmod 755 "$POLICY_RC"
    trap policy_restore EXIT
}
policy_restore() {
    if [ -e "$POLICY_BAK" ]; then
        mv -f "$POLICY_BAK" "$POLICY_RC"
    else
        rm -f "$POLICY_RC"
    fi
}

system_setup() {
    # One test user for every server. vsftpd authenticates it through PAM
    # (our own service file: pam_unix only, so no /etc/shells or ftpusers
    # checks); ProFTPD and Pure-FTPd use private user files with its uid.
    # vsftpd chdir()s into the home before local_root, so the home must
    # exist ("500 OOPS: cannot change directory" otherwise): an empty,
    # root-owned one. The per-instance roots are set in each config.
    mkdir -p "$PREFIX/home"
    chmod 755 "$PREFIX/home"
    if ! id "$FTP_USER" >/dev/null 2>&1; then
        useradd --no-create-home --home-dir "$PREFIX/home" --shell /usr/sbin/nologin \
            --user-group --comment "ftpkit interop test user" "$FTP_USER"
    elif [ "$(getent passwd "$FTP_USER" | cut -d: -f6)" != "$PREFIX/home" ]; then
        usermod --home "$PREFIX/home" "$FTP_USER"
    fi
    printf '%s:%s\n' "$FTP_USER" "$FTP_PASS" | chpasswd
    cat >/etc/pam.d/$PAM_SERVICE <<'EOF'
# ftpkit interop (interop/servers.sh): vsftpd test instances, pam_unix only.
auth     required pam_unix.so nodelay
account  required pam_unix.so
session  required pam_permit.so
EOF

    # inetutils ftpd's user (see INET_USER above). Its home is set to the
    # INETUTILS root by start; until then the empty root-owned one.
    cat >"$INET_SHELL" <<'EOF'
#!/bin/sh
# ftpkit interop (interop/servers.sh): login shell of the inetutils ftpd test
# user. Listed in /etc/shells only because ftpd requires a listed shell.
echo "This account is only for the ftpkit FTP interop tests." >&2
exit 1
EOF
    chmod 755 "$INET_SHELL"
    grep -qxF "$INET_SHELL" /etc/shells || echo "$INET_SHELL" >>/etc/shells
    if ! id "$INET_USER" >/dev/null 2>&1; then
        useradd --no-create-home --home-dir "$PREFIX/home" --shell "$INET_SHELL" \
            --user-group --comment "ftpkit interop test user (inetutils ftpd)" "$INET_USER"
    elif [ "$(getent passwd "$INET_USER" | cut -d: -f7)" != "$INET_SHELL" ]; then
        usermod --shell "$INET_SHELL" "$INET_USER"
    fi
    printf '%s:%s\n' "$INET_USER" "$FTP_PASS" | chpasswd
    # chroot into the home: the client sees the root as "/", as elsewhere.
    grep -qxF "$INET_USER" /etc/ftpchroot 2>/dev/null || echo "$INET_USER" >>/etc/ftpchroot
}

cmd_install() {
    need_root
    local t0=$SECONDS
    if [ "${FTPKIT_INTEROP_FORCE_INSTALL:-0}" != 1 ] && install_is_complete; then
        system_setup
        log "already installed ($(tr '\n' ' ' <"$STAMP")) in $((SECONDS - t0)) s"
        return 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    policy_block
    log "apt-get update"
    apt-get update -qq
    # softhsm2 + opensc (pkcs11-tool): the PKCS#11 test token (gen_token).
    # No conflicts there, so plain apt; without recommends opensc does not
    # pull in pcscd (a service, and no card reader is needed).
    log "apt-get install vsftpd openssl python3-venv iproute2 softhsm2 opensc"
    apt-get install -y -qq --no-install-recommends vsftpd openssl python3 python3-venv iproute2 \
        softhsm2 opensc >/dev/null
    pkcs11_installed || die "softhsm2/opensc installed, but $PKCS11_MODULE, softhsm2-util or pkcs11-tool is missing"

    # ProFTPD (+ mod_tls from proftpd-mod-crypto), Pure-FTPd and GNU
    # inetutils ftpd: downloaded and unpacked privately, because all four
    # servers conflict in dpkg (ftp-server).
    local dl=$PREFIX/debs
    rm -rf "$dl" && mkdir -p "$dl"
    log "apt-get download proftpd-core proftpd-mod-crypto pure-ftpd pure-ftpd-common inetutils-ftpd"
    (cd "$dl" && apt-get -qq -o APT::Sandbox::User=root download \
        proftpd-core proftpd-mod-crypto pure-ftpd pure-ftpd-common inetutils-ftpd)
    local deps=() deb
    for deb in "$dl"/*.deb; do
        mapfile -t -O "${#deps[@]}" deps < <(deb_runtime_deps "$deb")
    done
    # sort -u; apt-get ignores packages already installed
    mapfile -t deps < <(printf '%s\n' "${deps[@]}" | sort -u)
    log "apt-get install runtime libraries: ${deps[*]}"
    apt-get install -y -qq --no-install-recommends "${deps[@]}" >/dev/null

    rm -rf "$PROFTPD_DIR" "$PUREFTPD_DIR" "$INETUTILS_DIR"
    mkdir -p "$PROFTPD_DIR" "$PUREFTPD_DIR" "$INETUTILS_DIR"
    for deb in "$dl"/proftpd-*.deb; do dpkg-deb -x "$deb" "$PROFTPD_DIR"; done
    for deb in "$dl"/pure-ftpd*.deb; do dpkg-deb -x "$deb" "$PUREFTPD_DIR"; done
    # Only the binary is used: its /etc/pam.d/ftp stays in the unpacked tree
    # (ftpd runs with its default passwd authentication, no PAM).
    for deb in "$dl"/inetutils-ftpd*.deb; do dpkg-deb -x "$deb" "$INETUTILS_DIR"; done
    local f missing=0
    for f in "$PROFTPD_BIN" "$PROFTPD_MODULES/mod_tls.so" "$PUREFTPD_BIN" "$PUREPW_BIN" "$INETUTILS_BIN"; do
        [ -e "$f" ] || die "expected $f in the unpacked packages"
        if ldd "$f" | grep 'not found' >&2; then missing=1; fi
    done
    [ "$missing" = 0 ] || die "unpacked binaries miss shared libraries (above)"

    # pyftpdlib + pyOpenSSL (its TLS handler needs pyOpenSSL) and Twisted
    # in a venv. An existing venv is completed, not replaced.
    if ! "$VENV/bin/python" -c "$VENV_IMPORTS" 2>/dev/null; then
        if ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
            rm -rf "$VENV"
            log "python venv"
            /usr/bin/python3 -m venv "$VENV"
        fi
        log "pip install pyftpdlib==$PYFTPDLIB_VERSION pyOpenSSL==$PYOPENSSL_VERSION twisted==$TWISTED_VERSION"
        "$VENV/bin/pip" install -q --disable-pip-version-check \
            "pyftpdlib==$PYFTPDLIB_VERSION" "pyOpenSSL==$PYOPENSSL_VERSION" "twisted==$TWISTED_VERSION"
    fi

    system_setup
    policy_restore
    trap - EXIT

    # The package must not have left a system vsftpd running (0.0.0.0:21).
    if ss -ltnH 'sport = :21' | grep -q .; then
        ss -ltnpH 'sport = :21' >&2
        die "something listens on port 21 after install (a system vsftpd?)"
    fi

    {
        echo "vsftpd=$(dpkg-query -W -f '${Version}' vsftpd)"
        echo "softhsm2=$(dpkg-query -W -f '${Version}' softhsm2)"
        echo "opensc=$(dpkg-query -W -f '${Version}' opensc)"
        for deb in "$dl"/*.deb; do
            echo "$(dpkg-deb -f "$deb" Package)=$(dpkg-deb -f "$deb" Version)"
        done
        echo "pyftpdlib=$PYFTPDLIB_VERSION"
        echo "pyOpenSSL=$PYOPENSSL_VERSION"
        echo "twisted=$TWISTED_VERSION"
    } >"$STAMP"
    log "installed in $((SECONDS - t0)) s: $(tr '\n' ' ' <"$STAMP")"
}

# ------------------------------------------------------------------- pki --

gen_certs() {
    # Test CA, server cert for localhost, client cert (test CA) and a rogue
    # CA + client cert. Regenerated when missing or expiring within a day.
    if [ -f "$PKI/rogue-client.pem" ] && openssl x509 -checkend 86400 -noout -in "$PKI/ca.pem" >/dev/null 2>&1 \
        && openssl x509 -checkend 86400 -noout -in "$PKI/server.pem" >/dev/null 2>&1; then
        return 0
    fi
    log "generating test PKI in $PKI"
    rm -rf "$PKI"
    mkdir -p "$PKI"
    chmod 700 "$PKI"
    local days=30
    _ca() { # name cn
        openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
            -keyout "$PKI/$1.key" -out "$PKI/$1.pem" -subj "/O=ftpkit interop/CN=$2" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -addext "subjectKeyIdentifier=hash" 2>/dev/null
    }
    _leaf() { # name cn ca extensions
        openssl req -new -newkey rsa:2048 -nodes -sha256 \
            -keyout "$PKI/$1.key" -out "$PKI/$1.csr" -subj "/O=ftpkit interop/CN=$2" 2>/dev/null
        printf '%s\n' "$4" >"$PKI/$1.ext"
        openssl x509 -req -sha256 -days "$days" -in "$PKI/$1.csr" \
            -CA "$PKI/$3.pem" -CAkey "$PKI/$3.key" -CAcreateserial -CAserial "$PKI/$3.srl" \
            -extfile "$PKI/$1.ext" -out "$PKI/$1.pem" 2>/dev/null
        rm -f "$PKI/$1.csr" "$PKI/$1.ext"
    }
    local common="basicConstraints=critical,CA:FALSE
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid"
    _ca ca "ftpkit interop test CA"
    _leaf server localhost ca "$common
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"
    _leaf client ftpkit-client ca "$common
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
    _ca rogue-ca "ftpkit interop rogue CA"
    _leaf rogue-client ftpkit-client rogue-ca "$common
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
    openssl verify -CAfile "$PKI/ca.pem" "$PKI/server.pem" "$PKI/client.pem" >/dev/null \
        || die "generated certificates do not verify"
    # Keys stay root-only except the client keys, which tests may run as anyone.
    chmod 600 "$PKI"/*.key
    chmod 644 "$PKI"/*.pem "$PKI/client.key" "$PKI/rogue-client.key"
    chmod 755 "$PKI"
}

# ----------------------------------------------------------------- token --

# The PKCS#11 token of the client-certificate-on-a-token tests: SoftHSM2 in
# files under $SOFTHSM, recreated by every start. Each key pair is generated
# ON the token (pkcs11-tool --keypairgen: sensitive, never extractable);
# only its public key leaves it, for the test CA to certify; the certificate
# is written back next to the key, same ID and label.
# ID  LABEL  KEY-TYPE (pkcs11-tool)  certificate CN  ID whose public key the cert holds
# 04: secp256k1 has no TLS signature scheme (negative test). 05: a cert that
# does not match its key (it holds 01's public key; negative test).
TOKEN_OBJECTS="
01 client-ec       EC:prime256v1 ftpkit-token-ec       01
02 client-rsa      rsa:2048      ftpkit-token-rsa      02
03 client-p384     EC:secp384r1  ftpkit-token-p384     03
04 client-k1       EC:secp256k1  ftpkit-token-k1       04
05 client-mismatch EC:prime256v1 ftpkit-token-mismatch 01
"

# The token's serial number as pkcs11-tool -T (and softhsm2-util) shows it.
token_serial() {
    SOFTHSM2_CONF=$SOFTHSM/softhsm2.conf pkcs11-tool --module "$PKCS11_MODULE" --list-token-slots 2>/dev/null | awk -v l="$TOKEN_LABEL" '
        /token label/ { sub(/^[^:]*: */, ""); sub(/ *$/, ""); mine = ($0 == l) }
        mine && /serial num/ { sub(/^[^:]*: */, ""); print; exit }'
}

# The public key of key pair ID as DER SubjectPublicKeyInfo in FILE.
# pkcs11-tool --read-object --type pubkey does that for RSA, but OpenSC 0.23
# fails on a P-384 key ("cannot create EVP_PKEY"; P-256 and secp256k1 work):
# EC public keys are assembled here from the key's CKA_EC_PARAMS (the named
# curve's OID) and CKA_EC_POINT (DER OCTET STRING of the uncompressed point)
# as pkcs11-tool --list-objects prints them; openssl pkey then checks them.
token_pubkey() { # ID FILE
    local attrs
    if ! attrs=$(pkcs11-tool --module "$PKCS11_MODULE" --token-label "$TOKEN_LABEL" \
        --list-objects --type pubkey 2>>"$LOGDIR/token.log" | awk -v id="$1" '
            /^[A-Z]/ { ec = ($0 ~ /^Public Key Object; EC/); point = params = "" }
            $1 == "EC_POINT:" { point = $2 }
            $1 == "EC_PARAMS:" { params = $2 }
            $1 == "ID:" && $2 == id && !done { print (ec ? params " " point : "rsa"); done = 1 }'); then
        die "token: cannot list the public keys (log: $LOGDIR/token.log)"
    fi
    case "$attrs" in
        "") die "token: no public key with ID $1" ;;
        rsa) _p11 --read-object --type pubkey --id "$1" --output-file "$2" ;;
        *) _tok /usr/bin/python3 -c '
import sys
def tlv(tag, body):
    n = len(body)
    head = bytes([n]) if n < 0x80 else bytes([0x81, n]) if n < 0x100 else bytes([0x82]) + n.to_bytes(2, "big")
    return bytes([tag]) + head + body
params, point = (bytes.fromhex(h) for h in sys.argv[1:3])
# CKA_EC_POINT: OCTET STRING (tag 4) around the point
assert point[0] == 4
point = point[2:] if point[1] < 0x80 else point[2 + (point[1] & 0x7f):]
ec_public_key = bytes.fromhex("06072a8648ce3d0201")  # OID 1.2.840.10045.2.1
spki = tlv(0x30, tlv(0x30, ec_public_key + params) + tlv(0x03, b"\0" + point))
open(sys.argv[3], "wb").write(spki)' $attrs "$2" ;;
    esac
}

gen_token() {
    local log=$LOGDIR/token.log work=$SOFTHSM/work id label type cn over
    # Every command's output goes to the log, shown only on failure.
    _tok() {
        "$@" </dev/null >>"$log" 2>&1 || {
            tail -n 20 "$log" >&2
            die "token: '$*' failed (log: $log)"
        }
    }
    _p11() { _tok pkcs11-tool --module "$PKCS11_MODULE" --token-label "$TOKEN_LABEL" "$@"; }
    rm -rf "$SOFTHSM"
    mkdir -p "$SOFTHSM/tokens" "$work"
    # Our own config (not /etc/softhsm/softhsm2.conf): only this token.
    cat >"$SOFTHSM/softhsm2.conf" <<CONF
# ftpkit interop (interop/servers.sh): the PKCS#11 test token. Regenerated by start.
directories.tokendir = $SOFTHSM/tokens
objectstore.backend = file
log.level = ERROR
CONF
    local -x SOFTHSM2_CONF=$SOFTHSM/softhsm2.conf # for this function's commands only
    _tok softhsm2-util --init-token --free --label "$TOKEN_LABEL" --pin "$TOKEN_PIN" --so-pin "$TOKEN_SO_PIN"

    printf '%s\n' "basicConstraints=critical,CA:FALSE
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth" >"$work/client.ext"
    while read -r id label type cn over; do
        [ -n "$id" ] || continue
        _p11 --login --pin "$TOKEN_PIN" --keypairgen --key-type "$type" --id "$id" --label "$label"
    done <<<"$TOKEN_OBJECTS"
    while read -r id label type cn over; do
        [ -n "$id" ] || continue
        if [ ! -f "$work/$over.pub.pem" ]; then
            token_pubkey "$over" "$work/$over.pub.der"
            _tok openssl pkey -pubin -inform DER -in "$work/$over.pub.der" -out "$work/$over.pub.pem"
        fi
        # x509 -new (OpenSSL >= 3.0): a certificate from scratch over a
        # public key we hold no private key for, signed by the test CA.
        _tok openssl x509 -new -force_pubkey "$work/$over.pub.pem" -subj "/O=ftpkit interop/CN=$cn" \
            -sha256 -days 30 -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" -CAcreateserial -CAserial "$PKI/ca.srl" \
            -extfile "$work/client.ext" -out "$SOFTHSM/$label.pem"
        _tok openssl x509 -in "$SOFTHSM/$label.pem" -outform DER -out "$work/$label.der"
        _p11 --login --pin "$TOKEN_PIN" --write-object "$work/$label.der" --type cert --id "$id" --label "$label"
    done <<<"$TOKEN_OBJECTS"
    rm -rf "$work"
    _tok openssl verify -CAfile "$PKI/ca.pem" "$SOFTHSM"/*.pem
    TOKEN_SERIAL=$(token_serial) # for the env file
    [ -n "$TOKEN_SERIAL" ] || die "token: no serial number for token $TOKEN_LABEL (log: $log)"
    # The Rust tests may run as any user, and SoftHSM opens its object and
    # lock files read-write (and creates files for new objects): token dir
    # and files readable and writable by everyone. Acceptable for this
    # throwaway test token, whose PINs are in the env file anyway.
    chmod 755 "$SOFTHSM"
    chmod 644 "$SOFTHSM"/*.pem "$SOFTHSM/softhsm2.conf"
    chmod -R a+rwX "$SOFTHSM/tokens"
}

# -------------------------------------------------------------- processes --

# "pid ppid sid exe" for every process (exe "-" if unreadable). Builtins and
# one find(1) only: forking per process made stop take seconds.
proc_table() {
    local -A exe=()
    local d pid path stat f
    while read -r d path; do
        exe[${d#/proc/}]=$path
    done < <(find /proc -mindepth 2 -maxdepth 2 -name exe -printf '%h %l\n' 2>/dev/null)
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        read -r stat 2>/dev/null <"$d/stat" || continue
        read -r -a f <<<"${stat##*) }" # state ppid pgrp session ...
        printf '%s %s %s %s\n' "$pid" "${f[1]}" "${f[3]}" "${exe[$pid]:--}"
    done
}

is_server_exe() { # exe path -> ours?
    case "$1" in
        "$VSFTPD_BIN" | "$PROFTPD_BIN" | "$PUREFTPD_BIN" | "$INETUTILS_BIN") return 0 ;;
        */python3* | */python) return 0 ;;
    esac
    return 1
}

# PIDs that belong to the server started as session leader $1: the leader,
# every process in its session and every descendant, restricted to server
# executables (guards against PID reuse). $2: proc_table output.
server_pids() {
    local p exe
    awk -v L="$1" '
        { pid[$1] = 1; ppid[$1] = $2; sid[$1] = $3; exe[$1] = $4 }
        END {
            if (L in pid) sel[L] = 1
            for (p in pid) if (sid[p] == L) sel[p] = 1
            changed = 1
            while (changed) {
                changed = 0
                for (p in pid) if (!(p in sel) && (ppid[p] in sel)) { sel[p] = 1; changed = 1 }
            }
            for (p in sel) print p, exe[p]
        }' <<<"$2" | while read -r p exe; do
        if is_server_exe "$exe"; then echo "$p"; fi
    done
}

# Server processes not tracked by a PID file (e.g. the runtime dir's run/
# was removed): server executables whose cwd, command line or open files
# (logs) are in the runtime dir. ProFTPD and Pure-FTPd rewrite their argv,
# so the command line alone is not enough. $1: proc_table output.
stray_pids() {
    local p exe cmd fd link ours
    while read -r p _ _ exe; do
        is_server_exe "$exe" || continue
        cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
        case "$exe" in
            */python*)
                [[ $cmd == *pyftpdlib_server.py* || $cmd == *twisted_server.py* \
                    || $cmd == *inetd_launcher.py* ]] || continue
                ;;
        esac
        ours=0
        [[ $cmd == *"$RT/"* ]] && ours=1
        link=$(readlink "/proc/$p/cwd" 2>/dev/null) || true
        [[ $link == "$RT" || $link == "$RT/"* ]] && ours=1
        for fd in /proc/"$p"/fd/*; do
            [ $ours = 0 ] || break
            link=$(readlink "$fd" 2>/dev/null) || continue
            [[ $link == "$RT/"* ]] && ours=1
        done
        [ $ours = 0 ] || echo "$p"
    done <<<"$1"
}

kill_pids() { # pids... : TERM, wait up to 5 s, then KILL
    [ $# -gt 0 ] || return 0
    kill -TERM "$@" 2>/dev/null || true
    local p alive
    for _ in $(seq 50); do
        alive=()
        for p in "$@"; do
            if [ -d "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null; then
                alive+=("$p")
            fi
        done
        [ ${#alive[@]} -gt 0 ] || return 0
        sleep 0.1
    done
    log "still alive after SIGTERM, sending SIGKILL: ${alive[*]}"
    kill -KILL "${alive[@]}" 2>/dev/null || true
}

cmd_stop() {
    local pidfile leader pids=() name table
    table=$(proc_table)
    # run/NAME.pid: the PID servers.sh recorded for each instance it launched
    # (a session leader). Files the servers write themselves are in run/self/.
    for name in $(all_instances); do
        pidfile=$RUNDIR/$name.pid
        [ -f "$pidfile" ] || continue
        leader=$(cat "$pidfile")
        if [[ $leader =~ ^[0-9]+$ ]]; then
            mapfile -t -O "${#pids[@]}" pids < <(server_pids "$leader" "$table")
        fi
    done
    mapfile -t -O "${#pids[@]}" pids < <(stray_pids "$table")
    if [ ${#pids[@]} -gt 0 ]; then
        mapfile -t pids < <(printf '%s\n' "${pids[@]}" | sort -un)
        log "stopping ${#pids[@]} server processes: ${pids[*]}"
        kill_pids "${pids[@]}"
    fi
    rm -f "$RUNDIR"/*.pid "$ENV_FILE" 2>/dev/null || true
    # Make sure none of our ports is still listening.
    local port busy=""
    for name in $(all_instances); do
        port=$(instance_field "$name" 4)
        if port_listening "$port"; then busy+=" $name:$port"; fi
    done
    [ -z "$busy" ] || {
        ss -ltnpH >&2
        die "ports still in use after stop:$busy (by processes not started from $RT?)"
    }
    log "stopped"
}

port_listening() { ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; }

# ------------------------------------------------------------------ probes --

# Reads the greeting; succeeds on a final "220 " line. Multi-line greetings
# (Pure-FTPd sends "220-..." lines first) are followed to their end.
probe_220() { # port
    timeout 5 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        while IFS= read -r -t 4 line <&3; do
            line=${line%$'"'"'\r'"'"'}
            case "$line" in
                "220 "*) printf "QUIT\r\n" >&3; exit 0 ;;
                220-*) ;;
                *) exit 1 ;;
            esac
        done
        exit 1' probe "$1" 2>/dev/null
}

# TLS handshake (explicit: AUTH TLS; implicit: at once) verified against the
# test CA, with the client certificate where the instance demands one.
probe_tls() { # name
    local name=$1 port tls args=()
    port=$(instance_field "$name" 4)
    tls=$(instance_field "$name" 3)
    [ "$tls" = explicit ] && args+=(-starttls ftp)
    case "$name" in *CLIENTCERT) args+=(-cert "$PKI/client.pem" -key "$PKI/client.key") ;; esac
    # Judge by what the server said after the handshake, not by openssl's
    # exit code: Pure-FTPd closes without close_notify (openssl exits 1).
    local out errf=$LOGDIR/probe-$name.err
    [ -w "$LOGDIR" ] || errf=/dev/null # status run by a non-root user
    out=$(printf 'QUIT\r\n' | timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
        -CAfile "$PKI/ca.pem" -verify_return_error -verify_hostname localhost "${args[@]}" -quiet \
        2>"$errf") || true
    grep -qE '^(220|221) ' <<<"$out"
}

probe_instance() { # name -> 0 if it answers as it should
    local name=$1 tls port
    tls=$(instance_field "$name" 3)
    port=$(instance_field "$name" 4)
    case "$tls" in
        none) probe_220 "$port" ;;
        explicit) probe_220 "$port" && probe_tls "$name" ;;
        implicit) probe_tls "$name" ;;
    esac
}

# ------------------------------------------------------------------ start --

render() { # template out [extra sed args...]
    local tmpl=$1 out=$2
    shift 2
    sed -e "s|@NAME@|$NAME|g" -e "s|@LNAME@|$LNAME|g" -e "s|@PORT@|$PORT|g" \
        -e "s|@PASV_MIN@|$PASV_MIN|g" -e "s|@PASV_MAX@|$PASV_MAX|g" -e "s|@ROOT@|$ROOT|g" \
        -e "s|@RT@|$RT|g" -e "s|@LOGDIR@|$LOGDIR|g" -e "s|@USER@|$FTP_USER|g" \
        -e "s|@PAM_SERVICE@|$PAM_SERVICE|g" -e "s|@SERVER_CERT@|$PKI/server.pem|g" \
        -e "s|@SERVER_KEY@|$PKI/server.key|g" -e "s|@CA@|$PKI/ca.pem|g" \
        -e "s|@PROFTPD_MODULES@|$PROFTPD_MODULES|g" "$@" "$tmpl" >>"$out"
}

launch() { # command... : own session, all output to the instance log
    cd "$RUNDIR"
    if [ "$SERVER" = vsftpd ]; then
        # vsftpd writes its fatal "500 OOPS: ..." errors to fd 0 (the
        # socket, in inetd mode): make fd 0 the log so they are not lost.
        setsid "$@" 0>>"$LOGDIR/$LNAME.out" >>"$LOGDIR/$LNAME.out" 2>&1 &
    else
        setsid "$@" </dev/null >>"$LOGDIR/$LNAME.out" 2>&1 &
    fi
    echo $! >"$RUNDIR/$NAME.pid"
}

start_vsftpd() {
    local conf=$GENCONF/$LNAME.conf
    : >"$conf"
    render "$CONF_SRC/vsftpd.conf.in" "$conf"
    if [ "$TLS" != none ]; then
        render "$CONF_SRC/vsftpd-tls.conf.in" "$conf"
    fi
    if [ "$TLS" = implicit ]; then
        printf '\n# --- implicit FTPS: TLS from the first byte ---\nimplicit_ssl=YES\n' >>"$conf"
    fi
    case "$NAME" in
        *CLIENTCERT)
            printf '\n# --- client certificate signed by the test CA required ---\nssl_request_cert=YES\nrequire_cert=YES\nvalidate_cert=YES\nca_certs_file=%s\n' \
                "$PKI/ca.pem" >>"$conf"
            ;;
        VSFTPD_TLS) printf 'ssl_request_cert=NO\n' >>"$conf" ;;
    esac
    chmod 600 "$conf"
    launch "$VSFTPD_BIN" "$conf"
}

start_proftpd() {
    local conf=$GENCONF/$LNAME.conf uid gid
    uid=$(id -u "$FTP_USER")
    gid=$(id -g "$FTP_USER")
    # AuthUserFile: passwd(5) format, SHA-512 crypt hash, home = this root.
    printf '%s:%s:%s:%s:ftpkit interop:%s:/usr/sbin/nologin\n' \
        "$FTP_USER" "$(openssl passwd -6 "$FTP_PASS")" "$uid" "$gid" "$ROOT" >"$GENCONF/$LNAME.passwd"
    printf '%s:x:%s:\n' "$FTP_USER" "$gid" >"$GENCONF/$LNAME.group"
    chmod 600 "$GENCONF/$LNAME.passwd" "$GENCONF/$LNAME.group"
    : >"$conf"
    render "$CONF_SRC/proftpd.conf.in" "$conf"
    case "$NAME" in
        *CLIENTCERT)
            # proftpd-clientcert.conf.in sets TLSVerifyClient on: drop the
            # template's "off" rather than have the directive twice.
            render "$CONF_SRC/proftpd-tls.conf.in" "$conf" -e '/^ *TLSVerifyClient /d'
            render "$CONF_SRC/proftpd-clientcert.conf.in" "$conf"
            ;;
        *) [ "$TLS" = none ] || render "$CONF_SRC/proftpd-tls.conf.in" "$conf" ;;
    esac
    case "$NAME" in
        PROFTPD_TLS_SHORT) render "$CONF_SRC/proftpd-tls-short.conf.in" "$conf" ;;
    esac
    chmod 600 "$conf"
    "$PROFTPD_BIN" -t -c "$conf" >>"$LOGDIR/$LNAME.out" 2>&1 \
        || { tail -n 20 "$LOGDIR/$LNAME.out" >&2; die "$NAME: proftpd -t rejects $conf"; }
    # -n: stay in the foreground (servers.sh tracks the PID).
    launch "$PROFTPD_BIN" -n -c "$conf"
}

start_pureftpd() {
    local uid gid passwd=$GENCONF/$LNAME.passwd pdb=$GENCONF/$LNAME.pdb
    uid=$(id -u "$FTP_USER")
    gid=$(id -g "$FTP_USER")
    # A SHA-512 crypt hash: with Pure-FTPd's default (scrypt/argon2 via
    # pure-pw) each login costs ~2.8 s here. Home ends in /./ = chroot point.
    printf '%s:%s:%s:%s::%s/./::::::::::::\n' \
        "$FTP_USER" "$(openssl passwd -6 "$FTP_PASS")" "$uid" "$gid" "$ROOT" >"$passwd"
    chmod 600 "$passwd"
    rm -f "$pdb"
    "$PUREPW_BIN" mkdb "$pdb" -f "$passwd" >>"$LOGDIR/$LNAME.out" 2>&1 \
        || { tail -n 20 "$LOGDIR/$LNAME.out" >&2; die "$NAME: pure-pw mkdb failed"; }
    local args=(
        -S "127.0.0.1,$PORT"       # bind loopback only
        -4                         # IPv4 only
        -p "$PASV_MIN:$PASV_MAX"   # passive port range
        -P 127.0.0.1               # passive address advertised
        -l "puredb:$pdb"           # virtual users only
        -E                         # no anonymous
        -A                         # chroot everyone
        -H                         # no reverse DNS
        -c 25 -C 25                # max clients: half the passive range
        -I 60                      # idle timeout, minutes
        -u 100                     # lowest uid allowed to log in
        -U 133:022                 # umask files:dirs
        -O "clf:$LOGDIR/$LNAME.xferlog"
        -g "$RUNDIR/self/$LNAME.pid" # its own PID file (default /var/run/pure-ftpd.pid)
        -f none                    # no syslog (there is none)
    )
    if [ "$TLS" != none ]; then
        # -Y 3: TLS required on control and data connections.
        args+=(-Y 3 -2 "$PKI/server.pem,$PKI/server.key")
    fi
    printf '%q ' "$PUREFTPD_BIN" "${args[@]}" >"$GENCONF/$LNAME.cmdline"
    echo >>"$GENCONF/$LNAME.cmdline"
    launch "$PUREFTPD_BIN" "${args[@]}"
}

start_pyftpdlib() {
    printf '%s\n' "$FTP_PASS" >"$GENCONF/$LNAME.pass"
    chmod 600 "$GENCONF/$LNAME.pass"
    local args=(--name "$NAME" --port "$PORT" --root "$ROOT" --pasv "$PASV_MIN-$PASV_MAX"
        --user "$FTP_USER" --password-file "$GENCONF/$LNAME.pass" --run-as "$FTP_USER")
    if [ "$TLS" != none ]; then
        args+=(--tls --cert "$PKI/server.pem" --key "$PKI/server.key")
    fi
    launch "$VENV/bin/python" -u "$CONF_SRC/pyftpdlib_server.py" "${args[@]}"
}

start_inetutils() {
    # inetd-style: ftpd serves the one connection on its stdin/stdout. Our
    # launcher (a tiny inetd) accepts on 127.0.0.1:PORT and execs ftpd per
    # connection. ftpd chroots the user (listed in /etc/ftpchroot) into its
    # home: point the home at this instance's root. No sessions of the user
    # are left (start stopped everything), so usermod may change it.
    if [ "$(getent passwd "$INET_USER" | cut -d: -f6)" != "$ROOT" ]; then
        usermod --home "$ROOT" "$INET_USER" >>"$LOGDIR/$LNAME.out" 2>&1 \
            || { tail -n 5 "$LOGDIR/$LNAME.out" >&2; die "$NAME: usermod --home $ROOT $INET_USER failed"; }
    fi
    local args=(
        -t 3600 # idle timeout, seconds (default 900)
        -T 7200 # the most a client may ask for with SITE IDLE
        -u 022  # umask (default 027: files 640, directories 750)
    )
    printf '%q ' "$INETUTILS_BIN" "${args[@]}" >"$GENCONF/$LNAME.cmdline"
    echo >>"$GENCONF/$LNAME.cmdline"
    launch "$VENV/bin/python" -u "$CONF_SRC/inetd_launcher.py" --name "$NAME" --port "$PORT" \
        -- "$INETUTILS_BIN" "${args[@]}"
}

start_twisted() {
    printf '%s\n' "$FTP_PASS" >"$GENCONF/$LNAME.pass"
    chmod 600 "$GENCONF/$LNAME.pass"
    launch "$VENV/bin/python" -u "$CONF_SRC/twisted_server.py" --name "$NAME" --port "$PORT" \
        --root "$ROOT" --pasv "$PASV_MIN-$PASV_MAX" --user "$FTP_USER" \
        --password-file "$GENCONF/$LNAME.pass" --run-as "$FTP_USER"
}

check_installed() { # server
    case "$1" in
        vsftpd) [ -x "$VSFTPD_BIN" ] || die "vsftpd is not installed ($VSFTPD_BIN): run interop/servers.sh install" ;;
        proftpd) [ -x "$PROFTPD_BIN" ] && [ -f "$PROFTPD_MODULES/mod_tls.so" ] \
            || die "ProFTPD is not installed ($PROFTPD_BIN): run interop/servers.sh install" ;;
        pureftpd) [ -x "$PUREFTPD_BIN" ] && [ -x "$PUREPW_BIN" ] \
            || die "Pure-FTPd is not installed ($PUREFTPD_BIN): run interop/servers.sh install" ;;
        pyftpdlib) "$VENV/bin/python" -c 'import pyftpdlib, OpenSSL' 2>/dev/null \
            || die "pyftpdlib is not installed ($VENV): run interop/servers.sh install" ;;
        inetutils)
            [ -x "$INETUTILS_BIN" ] || die "inetutils ftpd is not installed ($INETUTILS_BIN): run interop/servers.sh install"
            id "$INET_USER" >/dev/null 2>&1 && grep -qxF "$INET_SHELL" /etc/shells \
                && grep -qxF "$INET_USER" /etc/ftpchroot 2>/dev/null \
                || die "user $INET_USER, its shell in /etc/shells or /etc/ftpchroot missing: run interop/servers.sh install"
            ;;
        twisted) "$VENV/bin/python" -c 'import twisted.protocols.ftp' 2>/dev/null \
            || die "Twisted is not installed ($VENV): run interop/servers.sh install" ;;
    esac
}

cmd_start() {
    need_root
    local t0=$SECONDS names=() n
    if [ $# -gt 0 ]; then
        for n in "$@"; do
            [ -n "$(instance_field "$n" 2)" ] || die "unknown instance $n (known: $(all_instances | tr '\n' ' '))"
            names+=("$n")
        done
    else
        mapfile -t names < <(all_instances)
    fi
    case "$RT" in
        /*) ;;
        *) die "FTPKIT_INTEROP_DIR must be an absolute path" ;;
    esac
    case "$RT" in *[[:space:]\|@]*) die "FTPKIT_INTEROP_DIR must not contain spaces, | or @" ;; esac
    [ "$RT" != / ] || die "FTPKIT_INTEROP_DIR must not be /"

    cmd_stop
    command -v openssl >/dev/null || die "openssl is not installed: run interop/servers.sh install"
    id "$FTP_USER" >/dev/null 2>&1 || die "user $FTP_USER does not exist: run interop/servers.sh install"
    [ -f /etc/pam.d/$PAM_SERVICE ] || die "/etc/pam.d/$PAM_SERVICE missing: run interop/servers.sh install"
    for n in "${names[@]}"; do check_installed "$(instance_field "$n" 2)"; done
    pkcs11_installed || die "SoftHSM2/pkcs11-tool are not installed ($PKCS11_MODULE): run interop/servers.sh install"

    mkdir -p "$RT"
    chmod 755 "$RT"
    rm -rf "$LOGDIR" "$RUNDIR" "$GENCONF" "$ROOTS"
    mkdir -p "$LOGDIR" "$RUNDIR/self" "$GENCONF" "$ROOTS" "$RT/vsftpd-empty"
    chmod 700 "$GENCONF"
    chmod 755 "$RT/vsftpd-empty"
    gen_certs
    gen_token

    local NAME LNAME SERVER TLS PORT PASV_MIN PASV_MAX ROOT
    local busy=""
    for NAME in "${names[@]}"; do
        PORT=$(instance_field "$NAME" 4)
        if port_listening "$PORT"; then busy+=" $NAME:$PORT"; fi
    done
    [ -z "$busy" ] || { ss -ltnpH >&2; die "ports already in use by another process:$busy"; }

    for NAME in "${names[@]}"; do
        LNAME=$(lower "$NAME")
        SERVER=$(instance_field "$NAME" 2)
        TLS=$(instance_field "$NAME" 3)
        PORT=$(instance_field "$NAME" 4)
        PASV_MIN=$(instance_field "$NAME" 5)
        PASV_MAX=$(instance_field "$NAME" 6)
        ROOT=$ROOTS/$LNAME
        # Each instance's own, empty, writable root, owned by its test user.
        mkdir -p "$ROOT"
        chown "$(instance_user "$NAME"):$(instance_user "$NAME")" "$ROOT"
        chmod 755 "$ROOT"
        "start_$SERVER"
    done

    # Wait for every instance to answer.
    local deadline=$((SECONDS + START_TIMEOUT)) pending=("${names[@]}") still failed=""
    while [ ${#pending[@]} -gt 0 ]; do
        still=()
        for NAME in "${pending[@]}"; do
            LNAME=$(lower "$NAME")
            if probe_instance "$NAME"; then
                continue
            fi
            if ! [ -d "/proc/$(cat "$RUNDIR/$NAME.pid")" ]; then
                failed+=" $NAME(exited)"
                continue
            fi
            still+=("$NAME")
        done
        pending=(${still[@]+"${still[@]}"})
        [ ${#pending[@]} -gt 0 ] || break
        if [ $SECONDS -ge $deadline ]; then
            failed+=" ${pending[*]/%/(timeout)}"
            break
        fi
        sleep 0.2
    done
    if [ -n "$failed" ]; then
        for NAME in $failed; do
            NAME=${NAME%(*}
            LNAME=$(lower "$NAME")
            echo "----- $NAME (port $(instance_field "$NAME" 4)): log tail -----" >&2
            tail -n 25 "$LOGDIR/$LNAME".* "$LOGDIR/probe-$NAME.err" >&2 2>/dev/null || true
        done
        cmd_stop || true
        die "instances failed to start:$failed"
    fi

    # The env file the Rust interop suite reads: KEY=VALUE, no quotes.
    local tmp=$ENV_FILE.tmp
    {
        echo "FTPKIT_INTEROP_DIR=$RT"
        echo "FTPKIT_INTEROP_HOST=$HOST"
        echo "FTPKIT_INTEROP_USER=$FTP_USER"
        echo "FTPKIT_INTEROP_PASS=$FTP_PASS"
        echo "FTPKIT_INTEROP_CA=$PKI/ca.pem"
        echo "FTPKIT_INTEROP_CLIENT_CERT=$PKI/client.pem"
        echo "FTPKIT_INTEROP_CLIENT_KEY=$PKI/client.key"
        echo "FTPKIT_INTEROP_ROGUE_CA=$PKI/rogue-ca.pem"
        echo "FTPKIT_INTEROP_ROGUE_CLIENT_CERT=$PKI/rogue-client.pem"
        echo "FTPKIT_INTEROP_ROGUE_CLIENT_KEY=$PKI/rogue-client.key"
        # The PKCS#11 token (gen_token); tests set SOFTHSM2_CONF from _SOFTHSM2_CONF.
        echo "FTPKIT_INTEROP_PKCS11_MODULE=$PKCS11_MODULE"
        echo "FTPKIT_INTEROP_SOFTHSM2_CONF=$SOFTHSM/softhsm2.conf"
        echo "FTPKIT_INTEROP_PKCS11_TOKEN=$TOKEN_LABEL"
        echo "FTPKIT_INTEROP_PKCS11_SERIAL=$TOKEN_SERIAL"
        echo "FTPKIT_INTEROP_PKCS11_PIN=$TOKEN_PIN"
        echo "FTPKIT_INTEROP_PKCS11_SO_PIN=$TOKEN_SO_PIN"
        echo "FTPKIT_INTEROP_INSTANCES=$(IFS=,; echo "${names[*]}")"
        for NAME in "${names[@]}"; do
            echo "FTPKIT_INTEROP_${NAME}_PORT=$(instance_field "$NAME" 4)"
            echo "FTPKIT_INTEROP_${NAME}_ROOT=$ROOTS/$(lower "$NAME")"
            echo "FTPKIT_INTEROP_${NAME}_TLS=$(instance_field "$NAME" 3)"
            echo "FTPKIT_INTEROP_${NAME}_PASV=$(instance_pasv "$NAME")"
            # The login of this instance: FTPKIT_INTEROP_USER/_PASS except
            # on INETUTILS, whose ftpd needs a system user of its own.
            echo "FTPKIT_INTEROP_${NAME}_USER=$(instance_user "$NAME")"
            echo "FTPKIT_INTEROP_${NAME}_PASS=$FTP_PASS"
        done
    } >"$tmp"
    mv -f "$tmp" "$ENV_FILE"
    log "started ${#names[@]} instances in $((SECONDS - t0)) s; env: $ENV_FILE"
}

# ----------------------------------------------------------------- status --

cmd_status() {
    local NAME LNAME port tls pid state rc=0
    printf '%-26s %-6s %-9s %-8s %s\n' INSTANCE PORT TLS PID STATE
    for NAME in $(all_instances); do
        LNAME=$(lower "$NAME")
        port=$(instance_field "$NAME" 4)
        tls=$(instance_field "$NAME" 3)
        pid=$(cat "$RUNDIR/$NAME.pid" 2>/dev/null || echo -)
        if [ "$pid" != - ] && ! [ -d "/proc/$pid" ]; then pid="$pid(dead)"; fi
        if probe_instance "$NAME" 2>/dev/null; then
            state=answers
        elif port_listening "$port"; then
            state="listening, no valid answer"
            rc=1
        else
            state=down
            rc=1
        fi
        printf '%-26s %-6s %-9s %-8s %s\n' "$NAME" "$port" "$tls" "$pid" "$state"
    done
    [ -f "$ENV_FILE" ] && echo "env: $ENV_FILE" || echo "env: (none: not started)"
    return $rc
}

# ------------------------------------------------------------------- main --

case "${1:-}" in
    install) cmd_install ;;
    start) shift; cmd_start "$@" ;;
    stop) need_root; cmd_stop ;;
    status) mkdir -p "$LOGDIR" 2>/dev/null || true; cmd_status ;;
    check)
        shift
        [ -f "$ENV_FILE" ] || die "no $ENV_FILE: run interop/servers.sh start first"
        if [ $# -eq 0 ]; then
            # smoke.py's round trips need REST+STOR, APPE and the common
            # user: not for INETUTILS (own user) and TWISTED (no REST/APPE).
            mapfile -t names < <(sed -n 's/^FTPKIT_INTEROP_INSTANCES=//p' "$ENV_FILE" | tr ',' '\n' \
                | grep -vxE 'INETUTILS|TWISTED' || true)
            [ ${#names[@]} -gt 0 ] || die "no instance smoke.py can check in $ENV_FILE (use probe)"
            log "checking ${names[*]} (INETUTILS, TWISTED: use servers.sh probe)"
            set -- "${names[@]}"
        fi
        "$VENV/bin/python" "$HERE/smoke.py" "$ENV_FILE" "$@"
        ;;
    probe)
        shift
        [ -f "$ENV_FILE" ] || die "no $ENV_FILE: run interop/servers.sh start first"
        [ $# -gt 0 ] || set -- INETUTILS TWISTED
        "$VENV/bin/python" "$HERE/probe.py" "$ENV_FILE" "$@"
        ;;
    env) cat "$ENV_FILE" ;;
    *) echo "usage: $0 install|start [NAME...]|stop|status|check [NAME...]|probe [NAME...]|env" >&2; exit 2 ;;
esac
