// Warden on Azure: one resource group, managed identities only (no keys or connection strings).
//   az deployment group create -g <rg> -f deploy/bicep/main.bicep -p prefix=warden imagePrefix=<acr>/warden-
// Walkthrough: docs/azure.md. Topics and subscriptions come from topology.json, which is generated
// from the topology table (python -m warden_bus.azure_servicebus.provisioning --write).
targetScope = 'resourceGroup'

@minLength(3)
@maxLength(10)
@description('short lower-case name prefix for every resource')
param prefix string = 'warden'
param location string = resourceGroup().location
@description('image reference up to the service name, e.g. myacr.azurecr.io/warden-')
param imagePrefix string
param imageTag string = 'latest'
param registryServer string = ''
@description('object ids of existing Entra principals (alert source app, operators group, SIEM app); empty skips')
param externalPrincipals object = {
  ingest: ''
  operator: ''
  siem: ''
}

@description('"<scope>|<role definition id>" of each write role the executor may activate through PIM (docs/azure.md, step 4)')
param remediationRoles array = []

var topology = loadJsonContent('topology.json')
var dataReceiverRole = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0')
var suffix = take(uniqueString(resourceGroup().id), 8)
var idx = {
  triage: indexOf(topology.identities, 'triage')
  planner: indexOf(topology.identities, 'planner')
  policy: indexOf(topology.identities, 'policy')
  executor: indexOf(topology.identities, 'executor')
  audit: indexOf(topology.identities, 'audit')
  scheduler: indexOf(topology.identities, 'scheduler')
}
// The write roles the executor activates through PIM: receiving approved actions, then the estate's.
var pimRoles = concat(['${servicebus.outputs.eligibleScopes[0]}|${dataReceiverRole}'], remediationRoles)

// Each Azure-hosted service's container environment, handed to containerapps.bicep as is.
// BEGIN GENERATED: warden process description
// Written by `make generate` (warden generate) from shared/cli/src/warden_cli/process_description.py:
// edit the description, not these lines (docs/adr/0008-one-process-description.md).
var sharedEnv = [
  { name: 'WARDEN_DATA_DIR', value: '/tmp/warden' }
  { name: 'WARDEN_HTTP_HOST', value: '0.0.0.0' }
  { name: 'WARDEN_HTTP_PORT', value: '8080' }
  { name: 'WARDEN_BUS_BACKEND', value: 'servicebus' }
  { name: 'WARDEN_SERVICEBUS_NAMESPACE', value: servicebus.outputs.fullyQualifiedNamespace }
  { name: 'WARDEN_STATE_BACKEND', value: 'cosmos' }
  { name: 'WARDEN_COSMOS_ENDPOINT', value: cosmos.outputs.endpoint }
  { name: 'WARDEN_KEYVAULT_URL', value: keyvault.outputs.vaultUri }
  { name: 'WARDEN_NATS_CREDS', value: '/dev/null' }
]
var environments = {
  triage: concat(sharedEnv, [
    { name: 'WARDEN_MANAGED_IDENTITY_CLIENT_ID', value: identities.outputs.clientIds[idx.triage] }
    { name: 'AZURE_CLIENT_ID', value: identities.outputs.clientIds[idx.triage] }
  ])
  planner: concat(sharedEnv, [
    { name: 'WARDEN_MANAGED_IDENTITY_CLIENT_ID', value: identities.outputs.clientIds[idx.planner] }
    { name: 'AZURE_CLIENT_ID', value: identities.outputs.clientIds[idx.planner] }
  ])
  policy: concat(sharedEnv, [
    { name: 'WARDEN_MANAGED_IDENTITY_CLIENT_ID', value: identities.outputs.clientIds[idx.policy] }
    { name: 'AZURE_CLIENT_ID', value: identities.outputs.clientIds[idx.policy] }
  ])
  executor: concat(sharedEnv, [
    { name: 'WARDEN_MANAGED_IDENTITY_CLIENT_ID', value: identities.outputs.clientIds[idx.executor] }
    { name: 'AZURE_CLIENT_ID', value: identities.outputs.clientIds[idx.executor] }
    { name: 'WARDEN_ELEVATION_BACKEND', value: 'azure-pim' }
    { name: 'WARDEN_REMEDIATOR_PRINCIPAL_ID', value: identities.outputs.principalIds[idx.executor] }
    { name: 'WARDEN_PIM_ROLES', value: string(pimRoles) }
    { name: 'WARDEN_TARGET_BACKEND', value: 'azure' }
    { name: 'WARDEN_AZURE_SUBSCRIPTION_ID', value: subscription().subscriptionId }
  ])
  audit: concat(sharedEnv, [
    { name: 'WARDEN_MANAGED_IDENTITY_CLIENT_ID', value: identities.outputs.clientIds[idx.audit] }
    { name: 'AZURE_CLIENT_ID', value: identities.outputs.clientIds[idx.audit] }
    { name: 'WARDEN_AUDIT_STORE', value: 'azure_blob' }
    { name: 'WARDEN_AUDIT_BLOB_ACCOUNT_URL', value: auditStorage.outputs.blobEndpoint }
    { name: 'WARDEN_AUDIT_BLOB_CONTAINER', value: auditStorage.outputs.containerName }
  ])
  scheduler: concat(sharedEnv, [
    { name: 'WARDEN_MANAGED_IDENTITY_CLIENT_ID', value: identities.outputs.clientIds[idx.scheduler] }
    { name: 'AZURE_CLIENT_ID', value: identities.outputs.clientIds[idx.scheduler] }
  ])
}
// END GENERATED: warden process description

module identities 'identities.bicep' = {
  name: 'identities'
  params: {
    location: location
    prefix: prefix
    names: topology.identities
  }
}

module servicebus 'servicebus.bicep' = {
  name: 'servicebus'
  params: {
    location: location
    namespaceName: 'sb-${prefix}-${suffix}'
    principalIds: identities.outputs.principalIds
    externalPrincipals: externalPrincipals
  }
}

module cosmos 'cosmos.bicep' = {
  name: 'cosmos'
  params: {
    location: location
    accountName: 'cosmos-${prefix}-${suffix}'
    containers: [
      { name: 'triage', principalId: identities.outputs.principalIds[idx.triage] }
      { name: 'executor', principalId: identities.outputs.principalIds[idx.executor] }
      { name: 'policy', principalId: identities.outputs.principalIds[idx.policy] }
    ]
  }
}

module keyvault 'keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    vaultName: 'kv-${prefix}-${suffix}'
    policyPrincipalId: identities.outputs.principalIds[idx.policy]
    auditPrincipalId: identities.outputs.principalIds[idx.audit]
    executorPrincipalId: identities.outputs.principalIds[idx.executor]
  }
}

// Written and owned with the audit service: the immutable (time-based retention, protected
// append writes) audit container and the audit identity's access to it.
module auditStorage 'audit-storage.bicep' = {
  name: 'audit-storage'
  params: {
    location: location
    prefix: prefix
    auditPrincipalId: identities.outputs.principalIds[idx.audit]
  }
}

module apps 'containerapps.bicep' = {
  name: 'containerapps'
  params: {
    location: location
    prefix: prefix
    // maxReplicas follows what each service's Azure state allows (docs/scale-out.md): triage and
    // policy write Cosmos DB with ETag compare-and-set; the planner and the scheduler keep their
    // state in a local SQLite file (their PostgreSQL stores are not wired on Azure), and audit is
    // the single writer of its append-blob hash chain.
    services: [
      { name: 'triage', identityId: identities.outputs.ids[idx.triage], ingress: true, env: environments.triage, maxReplicas: 3 }
      { name: 'planner', identityId: identities.outputs.ids[idx.planner], ingress: false, env: environments.planner, maxReplicas: 1 }
      { name: 'policy', identityId: identities.outputs.ids[idx.policy], ingress: false, env: environments.policy, maxReplicas: 3 }
      { name: 'audit', identityId: identities.outputs.ids[idx.audit], ingress: false, env: environments.audit, maxReplicas: 1 }
      { name: 'scheduler', identityId: identities.outputs.ids[idx.scheduler], ingress: false, env: environments.scheduler, maxReplicas: 1 }
    ]
    executorIdentityId: identities.outputs.ids[idx.executor]
    executorEnv: environments.executor
    imagePrefix: imagePrefix
    imageTag: imageTag
    registryServer: registryServer
    serviceBusNamespace: servicebus.outputs.namespaceName
  }
}

output webhookUrl string = apps.outputs.webhookUrl
output serviceBusNamespace string = servicebus.outputs.fullyQualifiedNamespace
output pimEligibleScopes array = servicebus.outputs.eligibleScopes
output executorPrincipalId string = identities.outputs.principalIds[idx.executor]
