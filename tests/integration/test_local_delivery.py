"""Local delivery: mail for a local user, accepted on the mx port with real
smtplib clients, ends up in the user's Maildir exactly as it was sent, with
the trace headers a reader needs; and the envelope facts are stored."""
import re
import smtplib

import pytest

from conftest import (PASSWORDS, delivered_with, message, queued_message, smtp_send, token)


def split_delivered(data, body):
    """The header lines Floodgate added in front of BODY in a delivered file."""
    assert data.endswith(body), data[-400:]
    return data[: len(data) - len(body)]


def test_delivers_exact_bytes_with_trace_headers(server):
    subject = token()
    body = (f"Subject: {subject}\r\nFrom: Sender <sender@remote.test>\r\n"
            "To: alice@example.test\r\n\r\nline one\r\n  indented line\r\n\r\n"
            "tab\there\r\nlast line without anything special\r\n").encode()
    qid = smtp_send(server.ports["mx"], "sender@remote.test", "alice@example.test", body,
                    helo="client.example.net")
    [data] = delivered_with(server, "alice@example.test", subject)
    added = split_delivered(data, body).decode()
    assert added.startswith("Return-Path: <sender@remote.test>\r\n"
                            "Delivered-To: alice@example.test\r\n"), added
    received = added.split("Delivered-To: alice@example.test\r\n", 1)[1]
    assert received.startswith("Received: from client.example.net ([127.0.0.1])"), received
    assert re.search(r"\bby mail\.example\.test \(Floodgate\) with ESMTP id " + qid + r"\b",
                     received), received
    assert "for <alice@example.test>" in received
    # every added line ends in CR LF; the header block stays a header block
    assert received.endswith("\r\n") and "\n" not in received.replace("\r\n", "")


def test_alias_delivers_to_every_target(server):
    subject = token()
    smtp_send(server.ports["mx"], "sender@remote.test", "team@example.test",
              message(subject, to="team@example.test"))
    [a] = delivered_with(server, "alice@example.test", subject)
    [b] = delivered_with(server, "bob@example.test", subject)
    assert b"Delivered-To: alice@example.test\r\n" in a
    assert b"Delivered-To: bob@example.test\r\n" in b


def test_unknown_local_user_is_refused(server):
    with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=30) as c:
        c.ehlo("client.test")
        assert c.mail("sender@remote.test")[0] == 250
        code, resp = c.rcpt("nobody-here@example.test")
    assert code == 550
    assert resp.startswith(b"5.1.1"), resp


def test_maildir_tmp_is_empty_after_delivery(server):
    subject = token()
    smtp_send(server.ports["mx"], "sender@remote.test", "alice@example.test", message(subject))
    delivered_with(server, "alice@example.test", subject)
    tmp = server.maildir("alice@example.test") / "tmp"
    assert tmp.is_dir()
    assert list(tmp.iterdir()) == []
    assert (server.maildir("alice@example.test") / "cur").is_dir()


def test_envelope_facts_are_stored(server):
    subject = "Quarterly figures " + token()
    msgid = f"<{token()}@laptop.example.test>"
    body = (f"From: Alice Example <alice@example.test>\r\nTo: someone@remote.test\r\n"
            f"Subject: {subject}\r\nMessage-ID: {msgid}\r\n\r\nSee attached.\r\n").encode()
    qid = smtp_send(server.ports["submission"], "alice@example.test", "someone@remote.test", body,
                    helo="laptop.example.test", starttls=True,
                    login=("alice@example.test", PASSWORDS["alice@example.test"]))
    m = queued_message(server, qid)
    assert m["auth_user"] == "alice@example.test"
    assert m["client_ip"] == "127.0.0.1"
    assert isinstance(m["client_port"], int) and m["client_port"] > 0
    assert m["helo"] == "laptop.example.test"
    assert m["listener"] == "submission"
    assert m["sender"] == "alice@example.test"
    assert "alice@example.test" in m["header_from"]
    assert m["subject"] == subject
    assert m["message_id"] == msgid
    assert m["tls"] and m["tls"].startswith("TLS")
    assert [r["address"] for r in m["recipients"]] == ["someone@remote.test"]
    assert m["size"] >= len(body)


def test_8bitmime_body_is_accepted_and_kept(server):
    subject = token()
    body = ("Subject: " + subject + "\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln — ½ € ✓\r\n").encode("utf-8")
    with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=30) as c:
        c.ehlo("client.test")
        assert c.has_extn("8bitmime")
        assert c.mail("sender@remote.test", ["BODY=8BITMIME"])[0] == 250
        assert c.rcpt("alice@example.test")[0] == 250
        code, resp = c.data(body)
    assert code == 250, resp
    [data] = delivered_with(server, "alice@example.test", subject)
    assert data.endswith(body)


def test_smtputf8_sender_is_accepted(server):
    subject = token()
    sender = "jörg.müller@bücher.remote.test"
    with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=30) as c:
        c.ehlo("client.test")
        assert c.has_extn("smtputf8")
        code, resp = c.mail(sender, ["SMTPUTF8", "BODY=8BITMIME"])
        assert code == 250, resp
        assert c.rcpt("alice@example.test")[0] == 250
        code, resp = c.data(message(subject, sender=sender).decode().encode("utf-8"))
    assert code == 250, resp
    [data] = delivered_with(server, "alice@example.test", subject)
    assert data.startswith(("Return-Path: <" + sender + ">\r\n").encode("utf-8")), data[:200]


def test_non_ascii_sender_without_smtputf8_is_refused(server):
    with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=30) as c:
        c.ehlo("client.test")
        c.command_encoding = "utf-8"
        code, resp = c.mail("jörg@remote.test")
    assert code == 553, resp
    assert resp.startswith(b"5.6.7"), resp


def test_dot_stuffed_lines_come_out_unstuffed(server):
    subject = token()
    body = (f"Subject: {subject}\r\n\r\n.starts with a dot\r\n..two dots\r\n.\r\n"
            "...\r\nend . of\r\n. \r\n").encode()
    # smtplib stuffs every leading dot; the server must remove exactly one
    qid = smtp_send(server.ports["mx"], "sender@remote.test", "alice@example.test", body)
    [data] = delivered_with(server, "alice@example.test", subject)
    assert data.endswith(body), data[-200:]
    assert re.search(rb"with ESMTP id " + qid.encode() + rb"\b", data)


def test_message_without_final_crlf_is_completed(server):
    """smtplib adds the CR LF before the final dot; the delivered body ends
    with exactly one CR LF after the last line."""
    subject = token()
    body = f"Subject: {subject}\r\n\r\nno newline at the end".encode()
    smtp_send(server.ports["mx"], "sender@remote.test", "alice@example.test", body)
    [data] = delivered_with(server, "alice@example.test", subject)
    assert data.endswith(body + b"\r\n")


@pytest.mark.parametrize("rcpt", ["Alice@Example.TEST", "ALICE@example.test"])
def test_recipient_case_is_ignored(server, rcpt):
    subject = token()
    smtp_send(server.ports["mx"], "sender@remote.test", rcpt, message(subject, to=rcpt))
    [data] = delivered_with(server, "alice@example.test", subject)
    assert b"Delivered-To: alice@example.test\r\n" in data


def test_several_messages_on_one_connection(server):
    subjects = [token() for _ in range(3)]
    with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=30) as c:
        c.ehlo("client.test")
        for subj in subjects:
            c.sendmail("sender@remote.test", ["alice@example.test", "bob@example.test"],
                       message(subj))
    for subj in subjects:
        delivered_with(server, "alice@example.test", subj)
        delivered_with(server, "bob@example.test", subj)


def test_pipelined_transactions_in_one_write(server):
    """PIPELINING (RFC 2920): two whole transactions and QUIT in one write
    get their replies in order, and both messages are delivered."""
    from conftest import RawClient
    s1, s2 = token(), token()
    with RawClient(server.ports["mx"]) as c:
        assert "PIPELINING" in c.ehlo()
        c.send(b"MAIL FROM:<sender@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n" +
               message(s1) + b"\r\n.\r\n" +
               b"MAIL FROM:<sender@remote.test>\r\nRCPT TO:<bob@example.test>\r\n"
               b"RCPT TO:<nobody-here@example.test>\r\nDATA\r\n" +
               message(s2) + b"\r\n.\r\nQUIT\r\n")
        codes = [c.reply()[0] for _ in range(10)]
        assert codes == [250, 250, 354, 250, 250, 250, 550, 354, 250, 221]
    delivered_with(server, "alice@example.test", s1)
    delivered_with(server, "bob@example.test", s2)


def test_end_of_data_split_across_writes(server):
    """The end-of-data sequence may arrive one octet at a time."""
    import socket
    from conftest import RawClient
    subject = token()
    body = message(subject, body=b"one\r\n.two\r\n")
    with RawClient(server.ports["mx"]) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.ehlo()
        assert c.cmd("MAIL FROM:<sender@remote.test>")[0] == 250
        assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        stuffed = body.replace(b"\r\n.", b"\r\n..")
        c.send(stuffed)
        for ch in b"\r\n.\r\n":
            c.send(bytes([ch]))
        code, text = c.reply()
        assert code == 250, text
    [data] = delivered_with(server, "alice@example.test", subject)
    assert data.endswith(body + b"\r\n")


def test_null_sender_is_accepted(server):
    """Bounces come from <> (RFC 5321 4.5.5)."""
    subject = token()
    with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=30) as c:
        c.ehlo("client.test")
        assert c.mail("<>")[0] == 250
        assert c.rcpt("alice@example.test")[0] == 250
        assert c.data(message(subject, sender="MAILER-DAEMON@remote.test"))[0] == 250
    [data] = delivered_with(server, "alice@example.test", subject)
    assert data.startswith(b"Return-Path: <>\r\n")


def test_received_for_authenticated_submission(server):
    """Mail from a logged-in user to a local user: the trace says ESMTPSA
    and TLS, and does not name the account (smtp.disclose_auth_user is off)."""
    subject = token()
    qid = smtp_send(server.ports["submission"], "alice@example.test", "bob@example.test",
                    message(subject, sender="alice@example.test", to="bob@example.test"),
                    helo="laptop.test", starttls=True,
                    login=("alice@example.test", PASSWORDS["alice@example.test"]))
    [data] = delivered_with(server, "bob@example.test", subject)
    received = data.split(b"\r\nFrom: ", 1)[0].split(b"Received: ", 1)[1]
    assert b"with ESMTPSA id " + qid.encode() in received, received
    assert b"(using TLSv1." in received
    assert b"alice" not in received


def test_helo_cannot_inject_into_received(server):
    """The HELO name goes into Received:; characters that could close the
    comment or fake a header are replaced."""
    from conftest import RawClient
    subject = token()
    with RawClient(server.ports["mx"]) as c:
        c.ehlo("evil)(by.trusted.test")
        assert c.cmd("MAIL FROM:<sender@remote.test>")[0] == 250
        assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(message(subject) + b"\r\n.\r\n")
        assert c.reply()[0] == 250
    [data] = delivered_with(server, "alice@example.test", subject)
    assert b"Received: from evil__by.trusted.test ([127.0.0.1])" in data
