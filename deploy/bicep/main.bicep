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
      { name: 'triage', identityId: identities.outputs.ids[idx.triage], clientId: identities.outputs.clientIds[idx.triage], ingress: true, env: [], maxReplicas: 3 }
      { name: 'planner', identityId: identities.outputs.ids[idx.planner], clientId: identities.outputs.clientIds[idx.planner], ingress: false, env: [], maxReplicas: 1 }
      { name: 'policy', identityId: identities.outputs.ids[idx.policy], clientId: identities.outputs.clientIds[idx.policy], ingress: false, env: [], maxReplicas: 3 }
      {
        name: 'audit'
        identityId: identities.outputs.ids[idx.audit]
        clientId: identities.outputs.clientIds[idx.audit]
        ingress: false
        maxReplicas: 1
        env: [
          { name: 'WARDEN_AUDIT_STORE', value: 'azure_blob' }
          { name: 'WARDEN_AUDIT_BLOB_ACCOUNT_URL', value: auditStorage.outputs.blobEndpoint }
          { name: 'WARDEN_AUDIT_BLOB_CONTAINER', value: auditStorage.outputs.containerName }
        ]
      }
      { name: 'scheduler', identityId: identities.outputs.ids[idx.scheduler], clientId: identities.outputs.clientIds[idx.scheduler], ingress: false, env: [], maxReplicas: 1 }
    ]
    executorIdentityId: identities.outputs.ids[idx.executor]
    executorClientId: identities.outputs.clientIds[idx.executor]
    executorPrincipalId: identities.outputs.principalIds[idx.executor]
    pimRoles: concat(['${servicebus.outputs.eligibleScopes[0]}|${dataReceiverRole}'], remediationRoles)
    imagePrefix: imagePrefix
    imageTag: imageTag
    registryServer: registryServer
    serviceBusNamespace: servicebus.outputs.namespaceName
    serviceBusFqdn: servicebus.outputs.fullyQualifiedNamespace
    cosmosEndpoint: cosmos.outputs.endpoint
    vaultUri: keyvault.outputs.vaultUri
  }
}

output webhookUrl string = apps.outputs.webhookUrl
output serviceBusNamespace string = servicebus.outputs.fullyQualifiedNamespace
output pimEligibleScopes array = servicebus.outputs.eligibleScopes
output executorPrincipalId string = identities.outputs.principalIds[idx.executor]
