from warden_audit.app import main

main()
