require ["vnd.dovecot.pipe", "subaddress"];
if address :detail "to" ["case", "lead", "deal"] {
  pipe "mailroom" ["process", "--config", "/etc/mailroom/mailroom.yaml", "--db", "/var/lib/mailroom/crm.db"];
}
