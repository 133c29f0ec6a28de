"""Validates the CAP 1.2 alerts of an Atom feed against the official CAP 1.2 XML schema.

Usage: python3 validate.py CAP-v1.2.xsd feed.xml
Prints the number of alerts validated; exits 1 naming the first invalid alert and why.
"""
import sys

from lxml import etree

CAP = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM = "http://www.w3.org/2005/Atom"


def main(xsd_path, feed_path):
    schema = etree.XMLSchema(etree.parse(xsd_path))
    # No network, no entities: the feed is checked as it came.
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    feed = etree.parse(feed_path, parser).getroot()
    if feed.tag != "{%s}feed" % ATOM:
        sys.exit("root element is %s, not an Atom feed" % feed.tag)
    alerts = feed.findall("{%s}entry/{%s}content/{%s}alert" % (ATOM, ATOM, CAP))
    entries = feed.findall("{%s}entry" % ATOM)
    if len(alerts) != len(entries):
        sys.exit("%d entries but %d CAP alerts" % (len(entries), len(alerts)))
    for alert in alerts:
        document = etree.ElementTree(etree.fromstring(etree.tostring(alert)))
        if not schema.validate(document):
            identifier = alert.findtext("{%s}identifier" % CAP)
            sys.exit("alert %s is invalid: %s" % (identifier, schema.error_log))
    print("%d CAP alerts valid" % len(alerts))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
