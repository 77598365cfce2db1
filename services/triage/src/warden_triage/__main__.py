from warden_triage.app import main

main()
