from warden_policy.app import main

main()
