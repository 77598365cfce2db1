"""`python -m warden_triage.consumer`: the alert consumer process the webhook intake starts."""

from warden_triage.app import consumer_main

if __name__ == "__main__":
    consumer_main()
